#!/bin/sh
# lenet.sh: seed 002's table on the bundled LeNet-5 (Fashion-MNIST test set):
# fp32 against weight-only int16 and int8 (symmetric, per layer, min-max),
# then onnxq's entropy-coded dead-zone files: the max-drop search at 0.5 %
# (with error-feedback rounding, and rounding to nearest) and at 0.1 %.
# Weight-only int rows give both the raw int size (B bits per weight) and
# onnxq's coded size of the same integers.
#   sh bench/lenet.sh   (run from the built tree, or ONNXQ=path; about 8 minutes)
set -eu
cd "$(dirname "$0")/.."
onnxq=${ONNXQ:-src/onnxq}
data=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
model=models/lenet5-fashion.onnx
out=$(mktemp -d /tmp/onnxq-lenet-XXXXXX)
trap 'rm -rf "$out"' EXIT
set -- --idx "$data/t10k-images-idx3-ubyte.gz" "$data/t10k-labels-idx1-ubyte.gz"
row() { # row NAME COMPRESSED.json EVAL.json
    python3 -c '
import json, sys
c, e = (json.load(open(p)) for p in sys.argv[2:4])
bpw = c.get("coded_bits_per_weight")
print("| %s | %.3f | %d | %.2f | %+.2f |" % (sys.argv[1], bpw, c.get("file_bytes_after", c.get("file_bytes", 0)),
      e["top1"], e["top1"] - e["reference_top1"]))' "$@"
}
echo "| weights | coded bits/weight | file bytes | top-1 % | vs fp32 |"
echo "|---|---|---|---|---|"
"$onnxq" eval "$model" "$@" --json -q >"$out/fp32.json"
python3 -c '
import json, os, sys
e = json.load(open(sys.argv[1]))
print("| fp32 | 32 | %d | %.2f | 0 |" % (os.path.getsize(sys.argv[2]), e["top1"]))' "$out/fp32.json" "$model"
for bits in 16 8; do
    "$onnxq" compress "$model" --quantizer int --bits $bits --all -o "$out/int$bits.onnx" --json >"$out/int$bits.c.json"
    "$onnxq" eval "$out/int$bits.onnx" "$@" --reference "$model" --json -q >"$out/int$bits.e.json"
    row "int$bits weight-only (raw: $bits b/w)" "$out/int$bits.c.json" "$out/int$bits.e.json"
done
for run in "0.5 nearest" "0.5 feedback" "0.1 feedback"; do
    drop=${run% *} rounding=${run#* }
    "$onnxq" compress "$model" --max-drop "$drop" --rounding "$rounding" "$@" --calibration 1000 \
        -o "$out/md.onnx" -f --json >"$out/md.c.json" 2>/dev/null
    "$onnxq" eval "$out/md.onnx" "$@" --reference "$model" --json -q >"$out/md.e.json"
    row "onnxq dead-zone, --max-drop $drop, $rounding rounding" "$out/md.c.json" "$out/md.e.json"
done
