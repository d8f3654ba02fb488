#!/bin/sh
# The command's conventions, the same in every command: --version, -q as
# --quiet, outputs checked before any work, - for standard input and
# output, `onnxq test`, odd values refused.  On the bundled model only.
. "$ONNXQ_TESTDIR/lib.sh"

lenet="$ONNXQ_TESTDIR/../models/lenet5-fashion.onnx"
for cmd in compress decompress inspect eval sweep fit test; do
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
