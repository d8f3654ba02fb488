#!/bin/sh
# demo.sh: the main job, run by setup.sh at the end of the build.
# Until onnxq bundles its own model, it works on the shared squeezenet1.1:
# inspect it, fit its weights, compress it, and decompress the result.
set -eu
cd "$(dirname "$0")/.."
shared=${ONNXQ_SHARED:-../shared}
model="$shared/models/squeezenet1.1.onnx"
if [ ! -f "$model" ]; then
    echo "demo: $model not found (set ONNXQ_SHARED to the folder holding models/)" >&2
    exit 1
fi
out=$(mktemp -d /tmp/onnxq-demo-XXXXXX)
trap 'rm -rf "$out"' EXIT
echo "== onnxq inspect $model (totals)"
src/onnxq inspect "$model" | tail -n 1
echo
echo "== onnxq fit $model"
src/onnxq fit "$model" | tail -n 2
echo
echo "== onnxq compress $model"
src/onnxq compress "$model" -o "$out/squeezenet1.1.onnxq.onnx"
echo
echo "== onnxq decompress"
src/onnxq decompress "$out/squeezenet1.1.onnxq.onnx" -o "$out/squeezenet1.1.plain.onnx"
