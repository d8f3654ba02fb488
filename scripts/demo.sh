#!/bin/sh
# demo.sh: the main job, run by setup.sh at the end of the build.
# Until onnxq bundles its own model, it inspects the shared squeezenet1.1.
set -eu
cd "$(dirname "$0")/.."
shared=${ONNXQ_SHARED:-../shared}
model="$shared/models/squeezenet1.1.onnx"
if [ ! -f "$model" ]; then
    echo "demo: $model not found (set ONNXQ_SHARED to the folder holding models/)" >&2
    exit 1
fi
echo "== onnxq inspect $model"
src/onnxq inspect "$model"
