#!/bin/sh
# Peak memory of compress and decompress on a model of about 3 GB with
# external data (issue 10's bound: 1.5 x the largest tensor + 200 MB).
#
#   sh bench/bigmodel.sh            # 3.2 GB: a 524 MB embedding + 40 x 67 MB
#   VOCAB=1000 WIDTH=256 LAYERS=4 sh bench/bigmodel.sh   # a quick run
#
# Needs about 3.3 x the model's size free in $BIGMODEL_DIR (default: a new
# folder under $TMPDIR or /tmp, removed afterwards) plus the model's size
# in $TMPDIR for decompress's scratch file.  ONNXQ=path picks the binary.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
onnxq=${ONNXQ:-$here/src/onnxq}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
vocab=${VOCAB:-32000} width=${WIDTH:-4096} layers=${LAYERS:-40}
dir=${BIGMODEL_DIR:-}
if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/onnxq-bigmodel-XXXXXX")
    trap 'rm -rf "$dir"' EXIT
fi

# Run a command; print its wall time and peak RSS (of the child, in KB).
measure() {
    "$py" - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.time()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
if r.returncode:
    sys.exit("%s failed (exit %d)" % (sys.argv[1:3], r.returncode))
print("%.1f %d" % (time.time() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
PY
}

echo "== generating in $dir"
"$py" "$here/bench/bigmodel.py" "$dir/big.onnx" --vocab "$vocab" --width "$width" --layers "$layers"
largest=$((vocab * width * 4))
[ $((width * width * 4)) -gt $largest ] && largest=$((width * width * 4))
model_bytes=$(($(stat -c %s "$dir/big.onnx") + $(stat -c %s "$dir/big.onnx.data")))

echo "== compress"
set -- $(measure "$onnxq" compress "$dir/big.onnx" -o "$dir/big.onnxq.onnx" -f)
c_time=$1 c_rss=$2
coded_bytes=$(($(stat -c %s "$dir/big.onnxq.onnx") + $(stat -c %s "$dir/big.onnxq.onnx.data")))
echo "== decompress"
set -- $(measure "$onnxq" decompress "$dir/big.onnxq.onnx" -o "$dir/big.dec.onnx" -f)
d_time=$1 d_rss=$2

echo "== checking the decoded weights against the originals"
"$py" - "$dir/big.onnx" "$dir/big.dec.onnx" <<'PY'
import os, sys
import numpy as np, onnx
def tensors(path):
    m = onnx.load(path, load_external_data=False)
    out = {}
    for t in m.graph.initializer:
        e = {x.key: x.value for x in t.external_data}
        out[t.name] = np.memmap(os.path.join(os.path.dirname(path), e["location"]), "<f4", "r",
                                int(e.get("offset", 0)), tuple(t.dims))
    return out
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys(), "tensor names differ"
step, worst = 2.0 ** -7, 0.0   # the default quantizer: deadzone, --bits 8
for name in a:
    for r in range(0, a[name].shape[0], 1024):
        worst = max(worst, float(np.abs(a[name][r:r + 1024] - b[name][r:r + 1024]).max()))
print("largest error %.6f (half a step: %.6f)" % (worst, step / 2))
sys.exit(0 if worst <= step / 2 * (1 + 1e-6) else "decoded weights are off")
PY

mb() { echo "$1" | awk '{printf "%.0f", $1 / 1e6}'; }
bound_kb=$(( (largest + largest / 2) / 1024 + 200 * 1000 * 1000 / 1024 ))
echo
echo "| model | largest tensor | bound (1.5 x + 200 MB) | compress peak RSS | decompress peak RSS | coded |"
echo "|---|---|---|---|---|---|"
echo "| $(mb $model_bytes) MB, $((layers + 1)) tensors | $(mb $largest) MB | $(mb $((bound_kb * 1024))) MB | $(mb $((c_rss * 1024))) MB in ${c_time} s | $(mb $((d_rss * 1024))) MB in ${d_time} s | $(mb $coded_bytes) MB |"
status=0
[ "$c_rss" -le "$bound_kb" ] || { echo "compress is over the bound"; status=1; }
[ "$d_rss" -le "$bound_kb" ] || { echo "decompress is over the bound"; status=1; }
exit $status
