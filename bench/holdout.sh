#!/bin/sh
# holdout.sh: does `compress --max-drop` keep its promise on images the
# search never saw?  For each shared model with float weights and each of
# SPLITS splits of the 1000-image sample by class (drawn from the split's
# number), the search runs on SHARE of the classes and the written file is
# scored with `eval --reference` on the others.
#
#   sh bench/holdout.sh [SHARED] [OUT]      (from the built tree)
#   SPLITS=3 SHARE=0.7 MAXDROP=1 MODELS='squeezenet1.1 googlenet' ARGS='...'
#
# OUT/holdout.csv has a row per model and split; the table printed gives per
# model the mean and the spread (smallest, largest) of the held-out drops
# over the splits, and the whole-file bits per parameter.
set -eu
cd "$(dirname "$0")/.."
onnxq=${ONNXQ:-src/onnxq}
shared=${1:-${ONNXQ_SHARED:-../shared}}
out=${2:-holdout-results}
splits=${SPLITS:-3}
share=${SHARE:-0.7}
maxdrop=${MAXDROP:-1}
python=${PYTHON:-python3}
mkdir -p "$out"
csv="$out/holdout.csv"
[ -s "$csv" ] || echo "model,split,search_images,heldout_images,file_bpp,coded_bpw,expected_top1_drop,verified_top1_drop,verified_top5_drop,heldout_top1_drop,heldout_top1_lo,heldout_top1_hi,heldout_top5_drop,heldout_top5_lo,heldout_top5_hi,seconds" >"$csv"

sh bench/models.sh "$shared" | while read -r file preset; do
    name=$(basename "$file" .onnx)
    if [ -n "${MODELS:-}" ]; then
        case " $MODELS " in *" $name "*) ;; *) continue ;; esac
    fi
    s=1
    while [ "$s" -le "$splits" ]; do
        if grep -q "^$name,$s," "$csv"; then s=$((s + 1)); continue; fi
        dir="$out/split$s"
        if [ ! -d "$dir/search" ]; then
            mkdir -p "$dir/search" "$dir/heldout"
            # The classes in an order drawn from the split's number; the first
            # SHARE of them search, the rest are held out.
            "$python" - "$shared/imagenet-sample" "$dir" "$s" "$share" <<'PY'
import os, random, sys
src, dst, seed, share = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
files = sorted(f for f in os.listdir(src) if f.endswith('.JPEG'))
random.Random(seed).shuffle(files)
cut = round(share * len(files))
for part, names in (('search', files[:cut]), ('heldout', files[cut:])):
    os.symlink(os.path.join(os.path.abspath(src), 'synset_words.txt'),
               os.path.join(dst, part, 'synset_words.txt'))
    for f in names:
        os.symlink(os.path.join(os.path.abspath(src), f), os.path.join(dst, part, f))
PY
        fi
        start=$(date +%s)
        # shellcheck disable=SC2086
        "$onnxq" compress "$shared/models/$file" --max-drop "$maxdrop" --images "$dir/search" \
            --preset "$preset" ${ARGS:-} -o "$out/$name.$s.onnx" -f --json \
            >"$out/$name.$s.json" 2>"$out/$name.$s.log"
        end=$(date +%s)
        "$onnxq" eval "$out/$name.$s.onnx" --images "$dir/heldout" --preset "$preset" \
            --reference "$shared/models/$file" --json -q >"$out/$name.$s.eval.json"
        "$python" -c '
import json, sys
s, e = (json.load(open(p)) for p in sys.argv[1:3])
v, d = s["verification"], s["decision"]
bpp = s["file_bits_per_parameter"]
print("%s,%s,%d,%d,%.4f,%.4f,%.3f,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%s" % (sys.argv[3], sys.argv[4],
      int(s["images"]["calibration"].split()[0]) + d["images"] + v["images"], e["images"], bpp, s["coded_bits_per_weight"], d["expected_top1_drop"],
      v["top1_diff"], v["top5_diff"], e["top1_diff"], e["top1_diff_ci95"][0], e["top1_diff_ci95"][1],
      e["top5_diff"], e["top5_diff_ci95"][0], e["top5_diff_ci95"][1], sys.argv[5]))' \
            "$out/$name.$s.json" "$out/$name.$s.eval.json" "$name" "$s" "$((end - start))" >>"$csv"
        rm -f "$out/$name.$s.onnx"
        s=$((s + 1))
    done
done

"$python" - "$csv" <<'PY'
import csv, sys
from collections import defaultdict
rows = defaultdict(list)
for r in csv.DictReader(open(sys.argv[1])):
    rows[r["model"]].append(r)
print("| model | splits | bits/param | held-out top-1 drop: mean (min, max) | top-5 drop: mean (min, max) | seconds |")
print("|---|---|---|---|---|---|")
for m, rs in rows.items():
    t1 = [float(r["heldout_top1_drop"]) for r in rs]
    t5 = [float(r["heldout_top5_drop"]) for r in rs]
    bpp = [float(r["file_bpp"]) for r in rs]
    sec = [int(r["seconds"]) for r in rs]
    print("| %s | %d | %.3f | %.2f (%.2f, %.2f) | %.2f (%.2f, %.2f) | %d |" % (m, len(rs), sum(bpp) / len(bpp),
          sum(t1) / len(t1), min(t1), max(t1), sum(t5) / len(t5), min(t5), max(t5), sum(sec) / len(sec)))
PY
