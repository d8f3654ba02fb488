#!/bin/sh
# The bundled model: LeNet-5 scores its recorded accuracy on the Fashion-MNIST
# test set through --idx, plain and compressed, and the main job runs.
. "$ONNXQ_TESTDIR/lib.sh"

model="$ONNXQ_TESTDIR/../models/lenet5-fashion.onnx"
data=/usr/share/datasets/fashion-mnist
if [ ! -f "$data/t10k-images-idx3-ubyte.gz" ] || ! have_python_onnx; then
    echo "SKIP: dataset-fashion-mnist or python3-onnx is absent: LeNet-5 checks skipped"
    finish
    exit $?
fi
check "the bundled model passes the onnx checker" "$PYTHON_ONNX" -c '
import onnx, sys
onnx.checker.check_model(onnx.load(sys.argv[1]))' "$model"
"$ONNXQ" eval "$model" --idx "$data/t10k-images-idx3-ubyte.gz" "$data/t10k-labels-idx1-ubyte.gz" \
    --json -q >"$WORK/plain.json"
check "fp32: 10,000 test images, top-1 at least 89 %" "$PYTHON_ONNX" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("   LeNet-5 fp32 top-1 %.2f" % d["top1"])
assert d["images"] == 10000 and d["failed"] == 0 and d["top1"] >= 89.0, d' "$WORK/plain.json"
"$ONNXQ" compress "$model" -o "$WORK/lenet.onnxq.onnx" --json >"$WORK/c.json"
"$ONNXQ" eval "$WORK/lenet.onnxq.onnx" --idx "$data/t10k-images-idx3-ubyte.gz" \
    "$data/t10k-labels-idx1-ubyte.gz" --reference "$model" --json -q >"$WORK/small.json"
check "compressed: smaller, and within 0.5 % of the fp32 top-1" "$PYTHON_ONNX" -c '
import json, sys
c, d = (json.load(open(p)) for p in sys.argv[1:3])
print("   compressed %.3f b/w, top-1 %.2f (fp32 %.2f)" % (c["coded_bits_per_weight"], d["top1"], d["reference_top1"]))
assert c["file_bytes_after"] * 4 < c["file_bytes_before"]
assert d["reference_top1"] - d["top1"] <= 0.5, d' "$WORK/c.json" "$WORK/small.json"
check "the main job (scripts/demo.sh) runs" sh -c 'cd "$0" && sh scripts/demo.sh >/dev/null' \
    "$ONNXQ_TESTDIR/.."
finish
