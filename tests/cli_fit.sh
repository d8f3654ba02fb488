#!/bin/sh
# onnxq fit: the table, JSON, CSV and SVG agree, and bad requests are refused.
. "$ONNXQ_TESTDIR/lib.sh"

check "fit --help" "$ONNXQ" fit --help
if ! have_shared; then
    echo "SKIP: ../shared/models is absent (set ONNXQ_SHARED): fit checks skipped"
    finish
    exit $?
fi
sq="$ONNXQ_SHARED/models/squeezenet1.1.onnx"

"$ONNXQ" fit "$sq" --per-tensor >"$WORK/table"
check "table ranks the model" grep -q "^best by SSE: " "$WORK/table"
check "table has the per-tensor lines" grep -q "^conv10_w_0 " "$WORK/table"

"$ONNXQ" fit "$sq" --json >"$WORK/fit.json"
check "JSON: model and 26 tensors, every family ranked" "$PYTHON_ONNX" -c '
import json, sys
d = json.load(open(sys.argv[1]))
fams = {"laplace", "gauss", "cauchy", "logistic", "uniform", "exponential", "gamma", "alpha"}
scopes = [d["model"]] + d["tensors"]
assert len(d["tensors"]) == 26 and d["model"]["n"] == sum(t["n"] for t in d["tensors"])
for s in scopes:
    assert set(s["rank_sse"]) == fams and set(s["rank_kld"]) == fams
    f = s["families"]
    assert [f[n]["rank_sse"] for n in s["rank_sse"]] == list(range(1, 9))
    ok = [n for n in s["rank_sse"] if f[n]["ok"]]
    sse = [f[n]["sse"] for n in ok]
    assert f["laplace"]["scale"] > 0 and f["gauss"]["scale"] > 0
' "$WORK/fit.json"

"$ONNXQ" fit "$sq" --csv >"$WORK/fit.csv"
check "CSV: 8 rows for the model and for each tensor" "$PYTHON_ONNX" -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 8 * 27, len(rows)
assert sorted(int(r["rank_kld"]) for r in rows if r["scope"] == "model") == list(range(1, 9))
' "$WORK/fit.csv"

"$ONNXQ" fit "$sq" --svg "$WORK/fit.svg" --log >/dev/null
check "SVG: a histogram and three densities" "$PYTHON_ONNX" -c '
import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
assert len(d.getElementsByTagName("polyline")) == 3
assert len(d.getElementsByTagName("rect")) > 20
' "$WORK/fit.svg"
expect_error "existing SVG needs -f" 8 "already exists" -- fit "$sq" --svg "$WORK/fit.svg"
"$ONNXQ" fit "$sq" --tensor conv10_w_0 --json >"$WORK/one.json"
check "--tensor fits one tensor" "$PYTHON_ONNX" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["model"]["n"] == 512000 and len(d["tensors"]) == 1
' "$WORK/one.json"
expect_error "unknown tensor" 2 "no tensor named 'nope'" -- fit "$sq" --tensor nope
expect_error "integer tensor" 6 "not floating point" -- fit "$ONNXQ_SHARED/models/mobilenetv2-12-int8.onnx" --tensor 475_quantized

# The quantizer takes per-tensor steps from the Laplacian fit.
"$ONNXQ" compress "$sq" -o "$WORK/lap.onnx" --laplace-step 0.25 --json >"$WORK/lap.json"
check "--laplace-step: each step is 0.25 b of the tensor's fit" "$PYTHON_ONNX" -c '
import json, sys
c = json.load(open(sys.argv[1])); f = json.load(open(sys.argv[2]))
b = {t["name"]: t["families"]["laplace"]["scale"] for t in f["tensors"]}
q = [t for t in c["tensors"] if t["method"] == "quantized"]
assert len(q) == 26
for t in q:
    assert abs(t["step"] / (0.25 * b[t["name"]]) - 1) < 1e-6, (t["name"], t["step"], b[t["name"]])
assert len({round(t["step"], 9) for t in q}) > 10
' "$WORK/lap.json" "$WORK/fit.json"

finish
