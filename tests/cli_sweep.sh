#!/bin/sh
# onnxq sweep and compress --max-drop: points, shards, the plot, the search
# confirmed by a separate eval, and refused requests.
. "$ONNXQ_TESTDIR/lib.sh"

check "sweep --help" sh -c '"$0" sweep --help | grep -q "^Usage: onnxq sweep"' "$ONNXQ"
if ! have_scoring_data; then
    echo "SKIP: ../shared or python3-onnx is absent: sweep checks skipped"
    finish
    exit $?
fi
sq="$ONNXQ_SHARED/models/squeezenet1.1.onnx"
data="--images $ONNXQ_SHARED/imagenet-sample --preset caffe --cache $WORK/cache"
n=50
[ "${ONNXQ_SANITIZERS:-no}" = yes ] && n=20

# shellcheck disable=SC2086
"$ONNXQ" sweep "$sq" --quantizers midtread,deadzone:0.25 --bits 7..9 --all $data --limit $n \
    --max-drop 10 -o "$WORK/sweep.csv" --svg "$WORK/sweep.svg" 2>"$WORK/sweep.err"
check "sweep writes 6 points" test "$(tail -n +2 "$WORK/sweep.csv" | wc -l)" -eq 6
"$ONNXQ" compress "$sq" --quantizer midtread --bits 8 --all --json -o "$WORK/m8.onnx" >"$WORK/m8.json"
check "the CSV agrees with compress, and rate falls with bits" "$PYTHON_ONNX" -c '
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
c = json.load(open(sys.argv[2]))
m8 = [r for r in rows if r["quantizer"] == "midtread" and r["bits"] == "8"][0]
assert abs(float(m8["coded_bpw"]) - c["coded_bits_per_weight"]) < 1e-3, (m8, c["coded_bits_per_weight"])
assert abs(float(m8["entropy_bpw"]) - c["entropy_bits_per_weight"]) < 1e-3
for q in ("midtread", "deadzone:0.25"):
    bpw = [float(r["coded_bpw"]) for r in rows if r["quantizer"] == q]
    assert bpw == sorted(bpw) and len(bpw) == 3, bpw
for r in rows:
    assert 0 <= float(r["top1"]) <= 100 and 0 <= float(r["agreement"]) <= 100
    assert int(r["images"]) == int(sys.argv[3])' "$WORK/sweep.csv" "$WORK/m8.json" "$n"
check "the plot is SVG with a curve per quantizer" "$PYTHON_ONNX" -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert len(root.findall(ns + "polyline")) == 2 and len(root.findall(ns + "circle")) == 6' "$WORK/sweep.svg"
check "the best point is reported" grep -q "^best within 10.00 points: " "$WORK/sweep.err"
check "the original's accuracy is reported" grep -q "^original: top-1 " "$WORK/sweep.err"
check "the plot has a title and a legend for the dashed lines" sh -c \
    'grep -q "squeezenet1.1.onnx: top-1 against rate" "$0" && grep -q "original (" "$0" && grep -q "points below" "$0"' \
    "$WORK/sweep.svg"

# Shards: together they give the same points.
for i in 1 2; do
    # shellcheck disable=SC2086
    "$ONNXQ" sweep "$sq" --quantizers midtread,deadzone:0.25 --bits 7..9 --all $data --limit $n \
        --shard $i/2 -q >"$WORK/shard$i.csv"
done
tail -n +2 "$WORK/sweep.csv" | sort >"$WORK/all.sorted"
tail -q -n +2 "$WORK/shard1.csv" "$WORK/shard2.csv" | sort >"$WORK/shards.sorted"
check "shards 1/2 and 2/2 make up the whole sweep" cmp -s "$WORK/all.sorted" "$WORK/shards.sorted"
"$ONNXQ" sweep --merge "$WORK/shard1.csv" "$WORK/shard2.csv" -o "$WORK/merged.csv" \
    --svg "$WORK/merged.svg" --max-drop 10 2>"$WORK/merge.err"
tail -n +2 "$WORK/merged.csv" | sort >"$WORK/merged.sorted"
check "sweep --merge joins the shards into the whole sweep" cmp -s "$WORK/all.sorted" "$WORK/merged.sorted"
check "sweep --merge reports the same best point" sh -c \
    'test "$(grep "^best within" "$0")" = "$(grep "^best within" "$1")"' "$WORK/sweep.err" "$WORK/merge.err"
check "sweep --merge draws the plot" "$PYTHON_ONNX" -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert len(root.findall("{http://www.w3.org/2000/svg}circle")) == 6' "$WORK/merged.svg"
expect_error "sweep --merge of a file that is no sweep" 2 "not a sweep CSV" -- sweep --merge "$sq"

expect_error "sweep: bad --bits" 2 "--bits takes" -- sweep "$sq" --bits 9..3 $data
expect_error "sweep: bad --shard" 2 "--shard takes" -- sweep "$sq" --shard 3/2 $data
expect_error "sweep: unknown quantizer" 2 "unknown quantizer 'bogus'" -- \
    sweep "$sq" --quantizers midtread,bogus $data
expect_error "sweep: no images" 2 "give either --images" -- sweep "$sq"

# ---- compress --max-drop, verified on other images -------------------------------
# Two folders of links into the sample: the search's images and, apart, the
# images that verify (--validate).  A separate eval of the written file on
# the verification folder must give the figures the search reported.
mkdir -p "$WORK/search" "$WORK/verify"
for d in search verify; do cp "$ONNXQ_SHARED/imagenet-sample/synset_words.txt" "$WORK/$d/"; done
nsearch=60 nverify=30
[ "${ONNXQ_SANITIZERS:-no}" = yes ] && nsearch=30 nverify=10
i=0
for f in "$ONNXQ_SHARED"/imagenet-sample/*.JPEG; do
    case $((i % 10)) in
    0|3|6|8) [ "$(ls "$WORK/search" | wc -l)" -le "$nsearch" ] && ln -s "$f" "$WORK/search/" ;;
    5) [ "$(ls "$WORK/verify" | wc -l)" -le "$nverify" ] && ln -s "$f" "$WORK/verify/" ;;
    esac
    i=$((i + 1))
done
vdata="--preset caffe --cache $WORK/cache"
# shellcheck disable=SC2086
"$ONNXQ" compress "$sq" --max-drop 1 --images "$WORK/search" --validate "$WORK/verify" $vdata \
    --exclude '^conv1_w_0$' -o "$WORK/md.onnx" --json >"$WORK/md.json" 2>"$WORK/md.err"
check "max-drop writes a compressed file" test -s "$WORK/md.onnx"
# shellcheck disable=SC2086
"$ONNXQ" eval "$WORK/md.onnx" --images "$WORK/verify" $vdata --reference "$sq" --json -q >"$WORK/md-eval.json"
check "a separate eval on the verification images gives the reported figures" "$PYTHON_ONNX" -c '
import json, sys
s, e = (json.load(open(p)) for p in sys.argv[1:3])
v = s["verification"]
for k in ("images", "top1", "top5", "reference_top1", "top1_diff", "top5_diff", "top1_diff_ci95"):
    assert v[k] == e[k], (k, v[k], e[k])
lo, hi = v["top1_diff_ci95"]
assert lo <= v["top1_diff"] <= hi, v
assert s["images"]["verification"].startswith("%d images of " % e["images"]), s["images"]
d = s["decision"]
assert d["expected_top1_drop"] >= 0 and d["expected_top5_drop"] >= 0, d
q = [t for t in s["tensors"] if t["method"] == "quantized"]
# The steps the search kept: one per tensor, or one for all (it tries both).
steps = {round(t["step"], 12) for t in q}
assert s["steps"] in ("per-tensor", "one"), s["steps"]
assert len(steps) > 10 if s["steps"] == "per-tensor" else len(steps) == 1, (s["steps"], steps)
assert all(t["sensitivity"] > 0 for t in q)
# Every weight (--exclude holds in the search too); biases only with --all.
w = [t["name"] for t in q if t["name"].endswith("_w_0")]
assert len(w) == 25 and "conv1_w_0" not in w, w
assert not [t for t in q if t["name"].endswith("_b_0")]
assert s["rounded_with_feedback"] == 25, s["rounded_with_feedback"]
assert 0 < s["coded_bits_per_weight"] < 32' "$WORK/md.json" "$WORK/md-eval.json"
check "the search names the images of each part" \
    grep -q "^images: calibration [0-9]* of the [0-9]* images of .*search; decision [0-9]* of the" "$WORK/md.err"
check "the search logs its sensitivity pass and trials" grep -q "^sensitivity conv10_w_0" "$WORK/md.err"
check "the search compares one step for every tensor with the allocation" sh -c \
    'grep -q "^one step for every tensor instead:" "$0" && grep -q "^KL at [0-9.]* bits/parameter: [0-9.]* with one step per tensor, [0-9.]* with one for all$" "$0"' \
    "$WORK/md.err"
check "every squeezenet weight the search quantizes is rounded with error feedback" \
    grep -q "^error-feedback rounding for 25 of 25 tensors" "$WORK/md.err"
expect_error "an unknown rounding" 2 "--rounding takes feedback or nearest" -- \
    compress "$sq" --max-drop 1 --rounding bogus $data
expect_error "rounding without the search" 2 "--rounding is for --max-drop" -- \
    compress "$sq" --rounding nearest -o "$WORK/never.onnx"

expect_error "max-drop with --bits" 2 "--max-drop chooses the steps" -- \
    compress "$sq" --max-drop 1 --bits 8 $data
expect_error "max-drop without images" 2 "give either --images" -- compress "$sq" --max-drop 1
expect_error "images without max-drop" 2 "--images and --idx are for --max-drop" -- compress "$sq" $data
expect_error "max-drop onto an existing file" 8 "already exists" -- \
    compress "$sq" --max-drop 1 $data -o "$WORK/md.onnx"
finish
