#!/bin/sh
# onnxq compress / decompress through the command: valid ONNX out (checked by
# the onnx package's checker), exact lossless round trips, refusals and
# corrupt input.
. "$ONNXQ_TESTDIR/lib.sh"

check "compress --help" "$ONNXQ" compress --help
check "decompress --help" "$ONNXQ" decompress --help

if ! have_shared; then
    echo "SKIP: ../shared/models is absent (set ONNXQ_SHARED): compress checks skipped"
    finish
    exit $?
fi
if ! have_python_onnx; then
    echo "SKIP: python3 with the onnx package is absent: compress checks skipped"
    finish
    exit $?
fi

onnx_check() { # onnx_check FILE...: the onnx checker accepts every file
    "$PYTHON_ONNX" -c '
import sys, onnx
for f in sys.argv[1:]:
    onnx.checker.check_model(onnx.load(f))
' "$@"
}

same_tensors() { # same_tensors A B: the same initializer names, shapes and types
    "$PYTHON_ONNX" -c '
import sys, onnx
a, b = (onnx.load(f) for f in sys.argv[1:3])
ta = {t.name: (t.data_type, list(t.dims)) for t in a.graph.initializer}
tb = {t.name: (t.data_type, list(t.dims)) for t in b.graph.initializer}
assert ta == tb, set(ta) ^ set(tb)
assert len(a.graph.node) == len(b.graph.node)
' "$1" "$2"
}

for m in "$ONNXQ_SHARED"/models/*.onnx; do
    base=$(basename "$m" .onnx)
    "$ONNXQ" compress "$m" --no-fold --bits 8 -o "$WORK/$base.q.onnx" >"$WORK/log" 2>&1 &&
        "$ONNXQ" decompress "$WORK/$base.q.onnx" -o "$WORK/$base.d.onnx" >>"$WORK/log" 2>&1
    check "$base: compress and decompress" [ $? -eq 0 ]
    check "$base: the checker accepts both" onnx_check "$WORK/$base.q.onnx" "$WORK/$base.d.onnx"
    check "$base: with --no-fold, decompressed tensors match the original's" same_tensors "$m" "$WORK/$base.d.onnx"
    check "$base: compressed is smaller" [ "$(wc -c <"$WORK/$base.q.onnx")" -lt "$(wc -c <"$m")" ]
done

# The default without images: a model quantized before keeps its grids bit
# for bit; a float model gets steps from synthetic images, and says that
# no accuracy was measured.
qdq="$ONNXQ_SHARED/models/mobilenet_v2_1.0_224_quant-dequant.onnx"
"$ONNXQ" compress "$qdq" -o "$WORK/qdq.onnx" --json >"$WORK/qdq.json" 2>"$WORK/qdq.err" &&
    "$ONNXQ" decompress "$WORK/qdq.onnx" -o "$WORK/qdq.d.onnx" >/dev/null
check "default: q-dq weights kept on their grids, exactly" "$PYTHON_ONNX" -c '
import json, sys, onnx
from onnx import numpy_helper as nh
d = json.load(open(sys.argv[1]))
grid = [t for t in d["tensors"] if t["method"] in ("grid", "quantized")]
assert grid and all(t["grid"] for t in grid), [t["name"] for t in grid if not t["grid"]]
assert d["file_bits_per_parameter"] < 7, d["file_bits_per_parameter"]
a, b = ({t.name: nh.to_array(t) for t in onnx.load(f).graph.initializer} for f in sys.argv[2:4])
for k in a:
    assert a[k].tobytes() == b[k].tobytes(), k
' "$WORK/qdq.json" "$qdq" "$WORK/qdq.d.onnx"
check "default: says no accuracy was measured" grep -q "no accuracy was measured" "$WORK/qdq.err"
mv1="$ONNXQ_SHARED/models/mobilenet_v1_0.25_224.onnx"
"$ONNXQ" compress "$mv1" -o "$WORK/mv1.onnx" --json >"$WORK/mv1.json" 2>/dev/null &&
    "$ONNXQ" eval "$WORK/mv1.onnx" --reference "$mv1" --images "$ONNXQ_SHARED/imagenet-sample" \
        --preset tf --limit 200 --json -q >"$WORK/mv1.eval.json"
check "default on mobilenet_v1_0.25: agrees with the original on 200 photos" "$PYTHON_ONNX" -c '
import json, sys
c, e = (json.load(open(p)) for p in sys.argv[1:3])
print("   %.3f bits/parameter, agreement %.1f %%, top-1 difference %.2f %s" % (
      c["file_bits_per_parameter"], e["agreement"], e["top1_diff"], e["top1_diff_ci95"]))
assert e["agreement"] >= 94 and c["file_bits_per_parameter"] < 9, (c["file_bits_per_parameter"], e["agreement"])
' "$WORK/mv1.json" "$WORK/mv1.eval.json"

sq="$ONNXQ_SHARED/models/squeezenet1.1.onnx"
"$ONNXQ" compress "$sq" -o "$WORK/paper.onnx" --quantizer midtread --bits 8 --all --json >"$WORK/paper.json"
check "paper setting: at most 4.73 coded bits per weight" "$PYTHON_ONNX" -c '
import json, sys
d = json.load(open(sys.argv[1]))
# every tensor but those too small to pay for their Decode pair (plain, exact)
plain = [t for t in d["tensors"] if t["method"] != "quantized"]
assert all(t["method"] == "plain" and t["elements"] <= 64 for t in plain), plain
assert d["quantized_parameters"] + sum(t["elements"] for t in plain) == 1235496
assert d["coded_bits_per_weight"] <= 4.73, d["coded_bits_per_weight"]
assert d["coded_bits_per_weight"] <= d["entropy_bits_per_weight"] * 1.01
' "$WORK/paper.json"

"$ONNXQ" compress "$sq" -o "$WORK/lossless.onnx" --lossless >/dev/null &&
    "$ONNXQ" decompress "$WORK/lossless.onnx" -o "$WORK/lossless.d.onnx" >/dev/null
check "--lossless round trip is byte-identical" cmp -s "$sq" "$WORK/lossless.d.onnx"
check "--lossless is smaller" [ "$(wc -c <"$WORK/lossless.onnx")" -lt "$(wc -c <"$sq")" ]

for q in midrise midtread deadzone:0.7 mulaw float int; do
    "$ONNXQ" compress "$sq" -o "$WORK/q.onnx" -f --quantizer "$q" --bits 6 >/dev/null 2>"$WORK/err"
    check "quantizer $q" onnx_check "$WORK/q.onnx"
done
"$ONNXQ" compress "$sq" -o "$WORK/h.onnx" --entropy 3 --json >"$WORK/h.json"
check "--entropy 3 lands near 3 bits" "$PYTHON_ONNX" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert abs(d["entropy_bits_per_weight"] - 3) < 0.3, d["entropy_bits_per_weight"]
' "$WORK/h.json"

# A model with external data is compressed and decompressed a tensor at a
# time through a scratch file, and written with external data again: the
# same bytes as from the same model held inline.
mkdir "$WORK/ext" "$WORK/inline" "$WORK/scratch"
"$PYTHON_ONNX" -c '
import sys, onnx
onnx.save_model(onnx.load(sys.argv[1]), sys.argv[2], save_as_external_data=True,
                all_tensors_to_one_file=True, location="sq.onnx.data", size_threshold=1024)
' "$sq" "$WORK/ext/sq.onnx"
TMPDIR="$WORK/scratch" "$ONNXQ" compress "$WORK/ext/sq.onnx" -o "$WORK/ext/c.onnx" >/dev/null &&
    TMPDIR="$WORK/scratch" "$ONNXQ" decompress "$WORK/ext/c.onnx" -o "$WORK/ext/d.onnx" >/dev/null
"$ONNXQ" compress "$sq" -o "$WORK/inline/c.onnx" --external-data >/dev/null &&
    "$ONNXQ" decompress "$WORK/inline/c.onnx" -o "$WORK/inline/d.onnx" --external-data >/dev/null
for f in c.onnx c.onnx.data d.onnx d.onnx.data; do
    check "external-data input: $f as from the inline model" cmp -s "$WORK/ext/$f" "$WORK/inline/$f"
done
check "external-data output accepted by the onnx checker" onnx_check "$WORK/ext/c.onnx" "$WORK/ext/d.onnx"
check "scratch files removed" [ -z "$(ls "$WORK/scratch")" ]
saved_tmpdir=${TMPDIR-}
TMPDIR="$WORK/no-such-folder"; export TMPDIR
expect_error "external-data models go through the scratch file" 3 "cannot create a scratch file" -- compress "$WORK/ext/sq.onnx" --bits 8 -o "$WORK/ext/none.onnx"
TMPDIR=$saved_tmpdir
[ -n "$TMPDIR" ] || unset TMPDIR
check "no output without a scratch file" [ ! -e "$WORK/ext/none.onnx" ]

# Refusals: an existing output, the input itself, an uncompressed model.
echo keep >"$WORK/exists.onnx"
expect_error "existing output needs -f" 8 "already exists" -- compress "$sq" -o "$WORK/exists.onnx"
check "existing output untouched" grep -q keep "$WORK/exists.onnx"
cp "$sq" "$WORK/self.onnx"
expect_error "input as output" 8 "is an input" -- compress "$WORK/self.onnx" -o "$WORK/self.onnx" -f
expect_error "decompress of a plain model" 2 "not compressed by onnxq" -- decompress "$sq" -o "$WORK/x.onnx"
check "no output from a refused decompress" [ ! -e "$WORK/x.onnx" ]
expect_error "unknown quantizer" 2 "unknown quantizer" -- compress "$sq" --quantizer cubic
expect_error "two step rules" 2 "exclude each other" -- compress "$sq" --bits 4 --step 0.1

# A flipped byte inside a compressed tensor is caught by its CRC.
"$PYTHON_ONNX" - "$WORK/paper.onnx" "$WORK/damaged.onnx" <<'PY'
import sys, onnx
m = onnx.load(sys.argv[1])
t = next(t for t in m.graph.initializer if t.name == "conv10_w_0::onnxq")
b = bytearray(t.raw_data); b[len(b) // 2] ^= 0x10; t.raw_data = bytes(b)
onnx.save(m, sys.argv[2])
PY
expect_error "damaged bitstream refused" 7 "conv10_w_0': corrupt onnxq bitstream (CRC mismatch" -- decompress "$WORK/damaged.onnx" -o "$WORK/damaged.d.onnx"
check "no output from a damaged model" [ ! -e "$WORK/damaged.d.onnx" ]
check "no temporary files left" sh -c "! ls '$WORK' | grep -q '\.tmp\.'"

# Folding: BatchNormalization nodes (and mobilenet_v2_caffe's bias Adds)
# leave the graph, and the engine's outputs do not move beyond float
# rounding (a BatchNorm alone folds in the engine's own arithmetic: bit
# for bit; a folded Add rounds once where it rounded twice).
if have_scoring_data; then
    for e in mobilenet_v1_0.25_224:tf mobilenet_v2_1.0_224_caffe:caffe; do
        m=${e%%:*} p=${e##*:}
        "$ONNXQ" compress "$ONNXQ_SHARED/models/$m.onnx" --lossless -o "$WORK/$m.f.onnx" --json >"$WORK/$m.f.json"
        "$ONNXQ" decompress "$WORK/$m.f.onnx" -o "$WORK/$m.fd.onnx" >/dev/null
        "$ONNXQ" inspect --json "$WORK/$m.f.onnx" >"$WORK/$m.f.inspect.json"
        check "$m: folding removes its BatchNormalization nodes" "$PYTHON_ONNX" -c '
import json, sys, onnx
a, b = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
ops = lambda m: [n.op_type for n in m.graph.node]
r = json.load(open(sys.argv[3]))
assert "BatchNormalization" in ops(a) and "BatchNormalization" not in ops(b)
assert r["folded_nodes"] == len(ops(a)) - len(ops(b)) > 0, r["folded_nodes"]
n = 0
for t in a.graph.initializer:
    k = 1
    for d in t.dims:
        k *= d
    n += k
assert r["parameters"] == n, (r["parameters"], n)
i = json.load(open(sys.argv[4]))
assert i["compressed"] and i["original_parameters"] == n, (i["original_parameters"], n)
assert "folded_nodes=%d" % r["folded_nodes"] in i["metadata"]["onnxq.settings"], i["metadata"]' \
            "$ONNXQ_SHARED/models/$m.onnx" "$WORK/$m.fd.onnx" "$WORK/$m.f.json" "$WORK/$m.f.inspect.json"
        "$ONNXQ" eval "$WORK/$m.fd.onnx" --images "$ONNXQ_SHARED/imagenet-sample" --preset "$p" \
            --reference "$ONNXQ_SHARED/models/$m.onnx" --limit 20 --cache "$WORK/cache" --json -q >"$WORK/$m.f.eval.json"
        check "$m: the folded model's outputs are the original's up to rounding" "$PYTHON_ONNX" -c '
import json, sys
e = json.load(open(sys.argv[1]))
assert abs(e["kl"]) < 1e-6 and e["agreement"] == 100, e' "$WORK/$m.f.eval.json"
    done
fi

# The image cache those evals filled: onnxq cache shows it and clears it.
if have_scoring_data; then
    "$ONNXQ" cache --cache "$WORK/cache" --json >"$WORK/cache.json"
    "$ONNXQ" cache --cache "$WORK/cache" --clear -q
    "$ONNXQ" cache --cache "$WORK/cache" --json >"$WORK/cache2.json"
    check "onnxq cache shows the cache's files and clears them" python3 -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["files"] >= 1 and a["bytes"] > 0 and b["files"] == 0 and b["bytes"] == 0, (a, b)' \
        "$WORK/cache.json" "$WORK/cache2.json"
fi

# Files written before wide rANS (format 3 streams, by commit 6ed1909: the
# defaults, and midtread 6 bits --all) decode to the very bytes they did.
for f in lenet5-format3:1d67a2bb8a0c19d2efd8f128953c9b24ab0c9635074bc4879accf5e7459ab1cf \
    lenet5-format3-all:7020aa44e752aa179fea712eaf1e166a0f694a593d2e3f8307c4ba1938c85e48; do
    name=${f%%:*} sum=${f#*:}
    "$ONNXQ" decompress "$ONNXQ_TESTDIR/data/$name.onnxq.onnx" -o "$WORK/$name.onnx" >/dev/null
    check "$name: an older file decodes as it did" \
        sh -c "sha256sum '$WORK/$name.onnx' | grep -q '^$sum '"
done

# One Decode node carries every compressed tensor, input k to output k, and
# its outputs are the names the graph reads.
"$ONNXQ" compress "$ONNXQ_TESTDIR/../models/lenet5-fashion.onnx" -o "$WORK/one-node.onnx" -q
check "one Decode node for every compressed tensor" "$PYTHON_ONNX" -c '
import sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m)
d = [n for n in m.graph.node if n.domain == "ai.onnxq"]
assert len(d) == 1 and m.graph.node[0] == d[0], d
packed = [t.name for t in m.graph.initializer if t.name.endswith("::onnxq")]
assert list(d[0].input) == packed and len(packed) >= 2, (d[0].input, packed)
assert list(d[0].output) == [p[:-len("::onnxq")] for p in packed], d[0].output
' "$WORK/one-node.onnx"

finish
