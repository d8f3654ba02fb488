# lib.sh: helpers for the shell tests (sourced).  Each test prints one line
# per check and ends with the plain "N passed, N failed" summary.
set -u
: "${ONNXQ:?run through make check}"
PASSED=0
FAILED=0
WORK=$(mktemp -d /tmp/onnxq-sh-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

pass() { PASSED=$((PASSED + 1)); echo "PASS: $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $1"; }
check() { # check NAME COMMAND...: passes when the command succeeds
    name=$1; shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}

have_shared() { [ -d "$ONNXQ_SHARED/models" ]; }
have_python_onnx() { "$PYTHON_ONNX" -c 'import onnx' 2>/dev/null; }
# The models, the ImageNet sample and python3-onnx, which the scoring tests need.
have_scoring_data() { have_shared && [ -d "$ONNXQ_SHARED/imagenet-sample" ] && have_python_onnx; }

# expect_error NAME EXIT FILE-NEEDLE -- ARGS...: onnxq fails with that exit
# code, one line on stderr that contains the needle, nothing on stdout.
expect_error() {
    name=$1 want=$2 needle=$3; shift 4
    "$ONNXQ" "$@" >"$WORK/out" 2>"$WORK/err"
    rc=$?
    lines=$(wc -l <"$WORK/err")
    if [ "$rc" -eq "$want" ] && [ "$lines" -eq 1 ] && grep -qF -- "$needle" "$WORK/err" \
        && [ ! -s "$WORK/out" ]; then
        pass "$name"
    else
        fail "$name (exit $rc, want $want; stderr: $(head -c 300 "$WORK/err"))"
    fi
}

finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
