#!/bin/sh
# demo.sh: the main job, run by setup.sh at the end of the build: compress
# the bundled LeNet-5 (Fashion-MNIST) and score the original and the
# compressed file on the 10,000 test images, with sizes and accuracies.
set -eu
cd "$(dirname "$0")/.."
onnxq=${ONNXQ:-src/onnxq}
model=models/lenet5-fashion.onnx
data=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
if [ ! -f "$data/t10k-images-idx3-ubyte.gz" ]; then
    echo "demo: $data/t10k-images-idx3-ubyte.gz not found (install dataset-fashion-mnist)" >&2
    exit 1
fi
out=$(mktemp -d /tmp/onnxq-demo-XXXXXX)
trap 'rm -rf "$out"' EXIT
test_set="--idx $data/t10k-images-idx3-ubyte.gz $data/t10k-labels-idx1-ubyte.gz"
echo "== onnxq inspect $model"
"$onnxq" inspect "$model" | tail -n 1
echo
echo "== onnxq compress $model"
"$onnxq" compress "$model" -o "$out/lenet5.onnxq.onnx"
echo
echo "== onnxq eval: the original and the compressed file on the 10,000 test images"
# shellcheck disable=SC2086
"$onnxq" eval "$model" $test_set -q | sed -n '1,2p'
# shellcheck disable=SC2086
"$onnxq" eval "$out/lenet5.onnxq.onnx" $test_set --reference "$model" -q | sed -n "1,6p"
echo
printf 'sizes: %s bytes -> %s bytes\n' "$(wc -c <"$model" | tr -d ' ')" \
    "$(wc -c <"$out/lenet5.onnxq.onnx" | tr -d ' ')"
