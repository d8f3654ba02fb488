#!/bin/sh
# ort.sh: onnxq's engine against onnxruntime on the very same pixels.
#
#   sh bench/ort.sh [SHARED]      (from the built tree; needs node and npm)
#
# Installs onnxruntime-node 1.20.1 (the runtime of ../shared/models/README.md's
# reference figures) from npm into ${ORT_DIR:-~/.cache/onnxq/ort}, fills an
# onnxq image cache with the 8-bit centre crops of the sample, and scores
# every shared model with both on those crops: top-1, top-5, the top-1
# agreement image by image, and the median latency of one image with
# ${THREADS:-2} threads (onnxruntime; onnxq's is in bench/engine.sh).
# Last, the crops are compared with Pillow's resize (python3-pil).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${1:-${ONNXQ_SHARED:-$here/../shared}}
onnxq=${ONNXQ:-$here/src/onnxq}
threads=${THREADS:-2}
ort_dir=${ORT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/onnxq/ort}
if [ ! -d "$ort_dir/node_modules/onnxruntime-node" ]; then
    mkdir -p "$ort_dir"
    (cd "$ort_dir" && npm install --silent --no-save --ignore-scripts onnxruntime-node@1.20.1)
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/onnxq-ort-XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "| model | preset | onnxq top-1 / top-5 | onnxruntime top-1 / top-5 | top-1 agreement | onnxruntime ms/image ($threads threads) |"
echo "|---|---|---|---|---|---|"
for entry in squeezenet1.1:caffe mobilenet_v1_0.25_224:tf mobilenet_v2_1.0_224_quant-dequant:tf \
             shufflenet_quant-dequant:torch v3-small_224_1.0_uint8-dequant:tf mobilenetv2-12-int8:torch; do
    model=$shared/models/${entry%%:*}.onnx preset=${entry##*:}
    "$onnxq" eval "$model" --images "$shared/imagenet-sample" --preset "$preset" --cache "$work/cache" \
        --predictions "$work/onnxq.csv" -f --json -q >"$work/onnxq.json"
    set -- "$work"/cache/pixels-*.bin
    set -- $(NODE_PATH="$ort_dir/node_modules" node "$here/bench/ort_score.js" "$model" "$1" "$preset" \
        "$work/ort.csv" "$threads")
    ort_top1=$1 ort_top5=$2 ort_ms=$3
    /usr/bin/python3 - "$work/onnxq.json" "$work/onnxq.csv" "$work/ort.csv" \
        "${entry%%:*}" "$preset" "$ort_top1" "$ort_top5" "$ort_ms" <<'PY'
import csv, json, sys
ours = json.load(open(sys.argv[1]))
a = [r["top1"] for r in csv.DictReader(open(sys.argv[2]))]
b = [r["top1"] for r in csv.DictReader(open(sys.argv[3]))]
agree = sum(x == y for x, y in zip(a, b))
print("| %s | %s | %.1f / %.1f | %.1f / %.1f | %d of %d | %.2f |" % (
    sys.argv[4], sys.argv[5], ours["top1"], ours["top5"], float(sys.argv[6]),
    float(sys.argv[7]), agree, len(a), float(sys.argv[8])))
PY
done

# The crops both saw, against Pillow's resize (the reference of
# ../shared/models/README.md), when python3-pil is there.
set -- "$work"/cache/pixels-*.bin
/usr/bin/python3 - "$shared/imagenet-sample" "$1" <<'PY' || echo "(python3-pil is absent: crops not compared with Pillow)"
import os, sys
import numpy as np
from PIL import Image
folder, cache = sys.argv[1:3]
files = sorted(f for f in os.listdir(folder) if f.endswith(".JPEG"))
ours = np.fromfile(cache, np.uint8)[len(files):].reshape(len(files), 224, 224, 3)
differ = 0
for i, f in enumerate(files):
    im = Image.open(os.path.join(folder, f)).convert("RGB")
    w, h = im.size
    s = min(w, h)
    nw, nh = round(w * 256 / s), round(h * 256 / s)
    x0, y0 = (nw - 224) // 2, (nh - 224) // 2
    crop = np.asarray(im.resize((nw, nh), Image.BILINEAR).crop((x0, y0, x0 + 224, y0 + 224)))
    differ += bool((crop != ours[i]).any())
print("\nonnxq's crops against Pillow %s's: %d of %d images differ" % (
    Image.__version__, differ, len(files)))
PY
