#!/bin/sh
# eval.sh: time `onnxq eval` on the 1000 images of imagenet-sample with
# squeezenet1.1 on all cores: once decoding the JPEG files, once from the
# image cache.
#   sh bench/eval.sh [SHARED]   (run from the built tree)
set -eu
cd "$(dirname "$0")/.."
shared=${1:-${ONNXQ_SHARED:-../shared}}
cache=$(mktemp -d /tmp/onnxq-bench-cache-XXXXXX)
trap 'rm -rf "$cache"' EXIT
for run in "JPEG decoding" "from the cache"; do
    start=$(date +%s.%N)
    src/onnxq eval "$shared/models/squeezenet1.1.onnx" --images "$shared/imagenet-sample" \
        --preset caffe --cache "$cache" -q >"$cache/out.txt"
    end=$(date +%s.%N)
    printf '%-15s %6.2f s wall   ' "$run" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
    sed -n '2p;3p' "$cache/out.txt" | tr -s ' ' | tr '\n' ' '
    echo
done
