#!/bin/sh
# The command's conventions, the same in every command: --version, -q as
# --quiet, outputs checked before any work, - for standard input and
# output, `onnxq test`, odd values refused.  On the bundled model only.
. "$ONNXQ_TESTDIR/lib.sh"

lenet="$ONNXQ_TESTDIR/../models/lenet5-fashion.onnx"
for cmd in compress decompress inspect eval sweep fit test cache; do
    check "$cmd --version" sh -c '"$0" "$1" --version | grep -q "^onnxq [0-9]"' "$ONNXQ" "$cmd"
done
check "onnxq --version" sh -c '"$0" --version | grep -q "^onnxq [0-9]"' "$ONNXQ"

# compress --quiet (-q) prints nothing at all.
"$ONNXQ" compress "$lenet" -q -o "$WORK/q.onnx" >"$WORK/out" 2>"$WORK/err"
check "compress -q: exit 0 and a file" [ $? -eq 0 ] && [ -s "$WORK/q.onnx" ]
check "compress -q prints nothing" [ ! -s "$WORK/out" ] && [ ! -s "$WORK/err" ]
expect_error "-q is not the quantizer" 2 "exactly one MODEL" -- compress "$lenet" -q midtread

# onnxq test: a good file passes, a damaged one names its tensor.
check "test passes a good file" sh -c '"$0" test "$1" | grep -q ": OK, "' "$ONNXQ" "$WORK/q.onnx"
python3 - "$WORK/q.onnx" "$WORK/bad.onnx" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
b[len(b) // 2] ^= 0x10
open(sys.argv[2], 'wb').write(b)
PY
expect_error "test fails a damaged file, naming the tensor" 7 "tensor '" -- test "$WORK/bad.onnx"
expect_error "test of a plain model" 2 "not compressed by onnxq" -- test "$lenet"

# Standard input and output: compress - | decompress -, as files would.
"$ONNXQ" compress "$lenet" --bits 6 -o "$WORK/f.onnx" -q
"$ONNXQ" compress - --bits 6 -o - <"$lenet" 2>"$WORK/report" | "$ONNXQ" decompress - -o - -q >"$WORK/p.onnx"
"$ONNXQ" decompress "$WORK/f.onnx" -o "$WORK/fd.onnx" -q
check "compress and decompress through pipes give the files' bytes" cmp -s "$WORK/p.onnx" "$WORK/fd.onnx"
check "with -o -, the report goes to standard error" grep -q "bits per parameter" "$WORK/report"
expect_error "standard input needs -o" 2 "needs -o" -- compress -

# A compressed file explains itself: inspect shows each weight as the graph
# sees it, how it is stored, and the settings the file records.
"$ONNXQ" inspect --json "$lenet" >"$WORK/plain.inspect.json"
"$ONNXQ" inspect --json "$WORK/f.onnx" >"$WORK/f.inspect.json"
"$ONNXQ" inspect --csv "$WORK/f.onnx" >"$WORK/f.inspect.csv"
"$ONNXQ" compress "$lenet" --json -o "$WORK/d.onnx" -f >"$WORK/d.json" 2>/dev/null
"$ONNXQ" compress "$lenet" --bits 6 --json -o "$WORK/f2.onnx" >"$WORK/f.json"
check "inspect of a compressed file: original parameters, shapes, methods, provenance" python3 - \
    "$WORK/plain.inspect.json" "$WORK/f.inspect.json" "$WORK/f.inspect.csv" <<'PY'
import csv, json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert not a["compressed"] and b["compressed"]
assert b["original_parameters"] == a["parameters"] == b["parameters"], (b["original_parameters"], a["parameters"])
shapes = {t["name"]: t["shape"] for t in a["initializers"]}
assert {t["name"]: t["shape"] for t in b["initializers"]} == shapes
methods = {t["method"] for t in b["initializers"]}
assert "quantized" in methods, methods
for t in b["initializers"]:
    if t["method"] == "quantized":
        assert t["quantizer"] == "deadzone" and t["step"] > 0 and 0 < t["bits_per_weight"] < 32, t
meta = b["metadata"]
assert meta["onnxq.mode"] == "fixed" and meta["onnxq.version"] and "quantizer=deadzone" in meta["onnxq.settings"], meta
rows = list(csv.DictReader(open(sys.argv[3])))
assert len(rows) == len(b["initializers"]) and all(r["method"] for r in rows)
PY
check "one JSON schema for compress in every mode" python3 - "$WORK/f.json" "$WORK/d.json" <<'PY'
import json, sys
keys = ("quantized_bits_per_weight", "initializer_bits_per_parameter", "file_bits_per_parameter",
        "weight_bytes_before", "weight_bytes_after", "file_bytes_after", "mode", "tensors")
f, d = (json.load(open(p)) for p in sys.argv[1:3])
for r in (f, d):
    assert all(k in r for k in keys), [k for k in keys if k not in r]
    assert r["quantized_bits_per_weight"] <= r["file_bits_per_parameter"] * 1.5
    assert r["initializer_bits_per_parameter"] <= r["file_bits_per_parameter"]
assert f["mode"] == "fixed" and d["mode"] == "data-free" and "calibration" in d["images"]
PY

# Outputs are checked before any work.
expect_error "output is a folder" 3 "is a folder" -- compress "$lenet" -o "$WORK"
expect_error "output folder missing" 3 "does not exist" -- compress "$lenet" -o "$WORK/none/x.onnx"
expect_error "output is the input" 8 "is an input" -- compress "$WORK/q.onnx" -o "$WORK/q.onnx" -f
expect_error "sweep -o a folder" 3 "is a folder" -- sweep "$lenet" -o "$WORK" -f --idx x y
expect_error "fit --svg a folder" 3 "is a folder" -- fit "$lenet" --svg "$WORK" -f

# Odd values.
expect_error "--threads 0" 2 "--threads takes 1 to 256" -- eval "$lenet" --idx x y --threads 0
expect_error "--limit 0" 2 "--limit takes 1 image or more" -- eval "$lenet" --idx x y --limit 0
expect_error "int with fractional bits" 2 "whole number of bits" -- compress "$lenet" --quantizer int --bits 4.5
expect_error "float with fractional bits" 2 "whole number of bits" -- compress "$lenet" --quantizer float --bits 7.5
"$ONNXQ" compress "$lenet" --bits 24 -o "$WORK/b24.onnx" >/dev/null 2>"$WORK/err"
check "--bits 24 warns that --lossless is smaller" grep -q "lossless is exact and smaller" "$WORK/err"
finish
