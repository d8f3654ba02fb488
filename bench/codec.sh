#!/bin/sh
# codec.sh: encode/decode throughput on every shared model, one core.
#   sh bench/codec.sh [SHARED]   (run from the built tree)
set -eu
cd "$(dirname "$0")/.."
shared=${1:-${ONNXQ_SHARED:-../shared}}
for setting in "--quantizer deadzone --bits 8" "--quantizer midtread --bits 8 --all" "--quantizer none"; do
    echo "== $setting"
    # shellcheck disable=SC2086
    taskset -c 0 bench/bench_codec $setting "$shared"/models/*.onnx
done
