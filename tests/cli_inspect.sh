#!/bin/sh
# onnxq inspect on real and generated models: table, JSON and CSV agree.
. "$ONNXQ_TESTDIR/lib.sh"

check "--help" "$ONNXQ" --help
check "inspect --help" "$ONNXQ" inspect --help
check "--version" sh -c '"$ONNXQ" --version | grep -q "^onnxq [0-9]"'

if have_shared; then
    sq="$ONNXQ_SHARED/models/squeezenet1.1.onnx"
    "$ONNXQ" inspect "$sq" >"$WORK/table" 2>&1
    check "squeezenet table counts" grep -q "^52 initializers, 1,235,496 parameters" "$WORK/table"
    "$ONNXQ" inspect --json "$sq" >"$WORK/sq.json"
    check "squeezenet JSON parses with the figures" "$PYTHON_ONNX" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["parameters"] == 1235496 and d["tensors"] == 52, d["parameters"]
assert len(d["initializers"]) == 52
assert sum(t["elements"] for t in d["initializers"]) == 1235496
assert d["inputs"][0]["shape"] == [1, 3, 224, 224]
assert d["opsets"][0]["version"] == 11
' "$WORK/sq.json"
    "$ONNXQ" inspect --csv "$sq" >"$WORK/sq.csv"
    check "squeezenet CSV has 52 rows" "$PYTHON_ONNX" -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 52 and sum(int(r["elements"]) for r in rows) == 1235496
' "$WORK/sq.csv"
    for m in "$ONNXQ_SHARED"/models/*.onnx; do
        "$ONNXQ" inspect --json "$m" >"$WORK/m.json"
        check "inspect $(basename "$m")" "$PYTHON_ONNX" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["parameters"] == sum(t["elements"] for t in d["initializers"])
' "$WORK/m.json"
    done
else
    echo "SKIP: ../shared/models is absent (set ONNXQ_SHARED): real-model checks skipped"
fi

# A model written by the onnx package itself, with external data, float16,
# int8 and typed fields: onnxq must agree with onnx's own reading of it.
if have_python_onnx; then
    "$PYTHON_ONNX" - "$WORK" <<'PY'
import sys, os, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
d = sys.argv[1]
rng = np.random.default_rng(7)
w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
h = rng.standard_normal((5, 7)).astype(np.float16)
q = rng.integers(-128, 128, (3, 3)).astype(np.int8)
typed = helper.make_tensor("typed", TensorProto.FLOAT, [3], [1.5, -2.0, 0.0])
inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(h, "h"),
         numpy_helper.from_array(q, "q"), typed]
node = helper.make_node("Identity", ["x"], ["y"])
graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], inits)
model = helper.make_model(graph, producer_name="pytest")
onnx.save_model(model, os.path.join(d, "ext.onnx"), save_as_external_data=True,
                all_tensors_to_one_file=True, location="ext.weights", size_threshold=64)
import json
json.dump({"w": [float(w.min()), float(w.max()), float(w.mean())],
           "h": [float(h.astype(np.float32).min()), float(h.astype(np.float32).max())]},
          open(os.path.join(d, "expect.json"), "w"))
PY
    "$ONNXQ" inspect --json "$WORK/ext.onnx" >"$WORK/ext.json" 2>"$WORK/ext.err"
    check "external-data model from onnx" "$PYTHON_ONNX" -c '
import json, sys
d = json.load(open(sys.argv[1])); e = json.load(open(sys.argv[2]))
t = {x["name"]: x for x in d["initializers"]}
assert t["w"]["external"] and t["w"]["elements"] == 288 and t["w"]["dtype"] == "float32"
assert abs(t["w"]["min"] - e["w"][0]) < 1e-6 and abs(t["w"]["max"] - e["w"][1]) < 1e-6
assert abs(t["w"]["mean"] - e["w"][2]) < 1e-5
assert t["h"]["dtype"] == "float16" and t["h"]["min"] == e["h"][0] and t["h"]["max"] == e["h"][1]
assert t["q"]["dtype"] == "int8" and t["typed"]["min"] == -2.0 and t["typed"]["max"] == 1.5
assert d["inputs"][0]["shape"] == ["N", 3]
assert d["parameters"] == 288 + 35 + 9 + 3
' "$WORK/ext.json" "$WORK/expect.json"
else
    echo "SKIP: python3 with the onnx package is absent: generated-model checks skipped"
fi

finish
