#!/bin/sh
# Bad input to onnxq: one line naming the file and the problem, a nonzero
# documented exit code, no crash, nothing on standard output.
. "$ONNXQ_TESTDIR/lib.sh"

: >"$WORK/empty.onnx"
expect_error "empty file" 4 "empty.onnx: empty file" -- inspect "$WORK/empty.onnx"
head -c 4096 /dev/urandom >"$WORK/random.onnx"
"$ONNXQ" inspect "$WORK/random.onnx" >/dev/null 2>"$WORK/err"
rc=$?
check "random bytes refused" sh -c "[ $rc -ne 0 ] && [ $rc -lt 128 ] && [ \$(wc -l <'$WORK/err') -eq 1 ]"
expect_error "missing file" 3 "nothere.onnx: cannot open" -- inspect "$WORK/nothere.onnx"
expect_error "directory" 3 "is a directory" -- inspect "$WORK"
expect_error "unknown command" 2 "unknown command" -- frobnicate
expect_error "unknown option" 2 "unknown option" -- inspect --bogus x.onnx
expect_error "no model" 2 "exactly one MODEL" -- inspect

if have_shared; then
    sq="$ONNXQ_SHARED/models/squeezenet1.1.onnx"
    for n in 1 50 5000 1000000 4000000; do
        head -c "$n" "$sq" >"$WORK/cut.onnx"
        expect_error "truncated at $n" 4 "cut.onnx: not a valid ONNX model" -- inspect "$WORK/cut.onnx"
    done
else
    echo "SKIP: ../shared/models is absent (set ONNXQ_SHARED): truncation checks skipped"
fi

# A write that fails part way (here the file size limit, as a full disk
# would): a one-line error, exit 3, and neither the output nor a temporary
# file left behind.
lenet="$ONNXQ_TESTDIR/../models/lenet5-fashion.onnx"
mkdir "$WORK/small"
"$ONNXQ" compress "$lenet" -o "$WORK/lenet.onnxq.onnx" >/dev/null
expect_write_error() { # NAME NEEDLE -- ARGS
    name=$1 needle=$2; shift 3
    sh -c 'trap "" XFSZ; ulimit -f 20; exec "$@"' sh "$ONNXQ" "$@" >"$WORK/out" 2>"$WORK/err"
    rc=$?
    if [ "$rc" -eq 3 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] && grep -qF -- "$needle" "$WORK/err" &&
        [ -z "$(ls -A "$WORK/small")" ]; then
        pass "$name"
    else
        fail "$name (exit $rc; stderr: $(head -c 300 "$WORK/err"); left: $(ls -A "$WORK/small"))"
    fi
}
expect_write_error "compress: a write error leaves nothing" "out.onnx: write error" -- \
    compress "$lenet" -o "$WORK/small/out.onnx"
expect_write_error "decompress: a write error leaves nothing" "out.onnx: write error" -- \
    decompress "$WORK/lenet.onnxq.onnx" -o "$WORK/small/out.onnx"

# An IDX header claiming 4 GB over 9 bytes of gzip'd data (found by
# fuzz_idx): refused as truncated without allocating what it claims, which
# the address-space limit would turn into an out-of-memory error.
{ printf '\000\000\010\003\000\017\102\100\000\000\000\100\000\000\000\100'
  printf '\000\000\000\000\000\000\000\000\000'; } | gzip -c >"$WORK/forged-images.gz"
{ printf '\000\000\010\001\356\153\050\000'
  printf '\000\000\000\000\000\000\000\000\000'; } | gzip -c >"$WORK/forged-labels.gz"
# (AddressSanitizer reserves terabytes of address space: no limit under it.)
limit="ulimit -v 2000000;"
[ "${ONNXQ_SANITIZERS:-no}" = yes ] && limit=
sh -c "$limit"' exec "$@"' sh "$ONNXQ" eval "$lenet" \
    --idx "$WORK/forged-images.gz" "$WORK/forged-labels.gz" >"$WORK/out" 2>"$WORK/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -qF "forged-images.gz: truncated IDX data (9 of 4096000000 bytes)" "$WORK/err"; then
    pass "a forged IDX size is not allocated"
else
    fail "a forged IDX size is not allocated (exit $rc; stderr: $(head -c 300 "$WORK/err"))"
fi

if have_python_onnx; then
    "$PYTHON_ONNX" - "$WORK" <<'PY'
import sys, os, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
d = sys.argv[1]
def model(t):
    g = helper.make_graph([], "g", [], [], [t])
    return helper.make_model(g)
t = numpy_helper.from_array(np.zeros((4, 4), np.float32), "w")
t.raw_data = t.raw_data[:20]
onnx.save_model(model(t), os.path.join(d, "short.onnx"))
t = numpy_helper.from_array(np.zeros((64, 64), np.float32), "big")
onnx.save_model(model(t), os.path.join(d, "ext.onnx"), save_as_external_data=True,
                location="ext.bin", size_threshold=0)
PY
    expect_error "raw_data shorter than the shape" 5 "tensor 'w': raw_data holds 20 bytes" -- inspect "$WORK/short.onnx"
    rm -f "$WORK/ext.bin"
    expect_error "missing external data" 3 "ext.bin: cannot open" -- inspect "$WORK/ext.onnx"

    # A model with external data goes through a scratch file: a full disk
    # there fails the same way, and the scratch file goes too.
    mkdir "$WORK/scratch"
    "$PYTHON_ONNX" -c '
import sys, onnx
onnx.save_model(onnx.load(sys.argv[1]), sys.argv[2], save_as_external_data=True,
                location="lenet-ext.onnx.data", size_threshold=1024)
' "$lenet" "$WORK/lenet-ext.onnx"
    saved_tmpdir=${TMPDIR-}
    TMPDIR="$WORK/scratch"; export TMPDIR
    expect_write_error "compress: a full scratch disk leaves nothing" "cannot write the scratch file" -- \
        compress "$WORK/lenet-ext.onnx" --bits 8 -o "$WORK/small/out.onnx"
    TMPDIR=$saved_tmpdir
    [ -n "$TMPDIR" ] || unset TMPDIR
    check "no scratch file left" [ -z "$(ls -A "$WORK/scratch")" ]
else
    echo "SKIP: python3 with the onnx package is absent: generated-model checks skipped"
fi

finish
