#!/bin/sh
# The engine against an independent numpy forward pass (reference_forward.py)
# on every model in ../shared/models, float and int8: relative tolerance
# 1e-3 as onnx's runner, absolute 1e-5 (outputs are logits or
# probabilities; near zero the summation order shows at 1e-7).
. "$ONNXQ_TESTDIR/lib.sh"

if ! have_shared || ! have_python_onnx; then
    echo "SKIP: ../shared/models or python3-onnx is absent: engine reference checks skipped"
    finish
    exit $?
fi
seed=1
for model in "$ONNXQ_SHARED"/models/*.onnx; do
    name=$(basename "$model" .onnx)
    dir="$WORK/ref/test_$name"
    seed=$((seed + 1))
    if "$PYTHON_ONNX" "$ONNXQ_TESTDIR/reference_forward.py" "$model" "$dir" "$seed" \
        >"$WORK/py.log" 2>&1; then
        if "$ONNXQ_BUILDDIR/tests/node_tests" -a 1e-5 "$WORK/ref" >"$WORK/run.log"; then
            pass "engine equals numpy on $name"
        else
            fail "engine differs from numpy on $name: $(head -1 "$WORK/run.log")"
        fi
        rm -rf "$WORK/ref"
    else
        fail "numpy reference for $name: $(tail -1 "$WORK/py.log")"
    fi
done
finish
