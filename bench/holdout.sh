#!/bin/sh
# holdout.sh: does `compress --max-drop` keep its promise on images the
# search never saw?  K-fold over the 1000-image sample: its files are
# shuffled once (seed SEED) and dealt into FOLDS folds; for each fold the
# search runs on the other folds' images and the written file is scored
# with `eval --reference` on the fold.  Every image is held out exactly
# once, so the held-out figures pool over all of them.
#
#   sh bench/holdout.sh [SHARED] [OUT]      (from the built tree)
#   FOLDS=4 SEED=1 MAXDROP=1 MODELS='squeezenet1.1 googlenet' ARGS='...'
#   MODE=default   scores plain `compress` (no images) the same way: the
#                  whole sample is unseen by it, so one fold is all images
#
# OUT/holdout.csv has a row per model and fold (the three rates, the
# steps the search chose, the lost and gained counts behind each
# difference); the table printed gives per model the rates and the
# held-out top-1 and top-5 drops pooled over the folds with their 95 %
# intervals (Agresti-Min, from the pooled counts), the spread of the fold
# drops, the expected drop the search decided on, and bits per parameter.
set -eu
cd "$(dirname "$0")/.."
onnxq=${ONNXQ:-src/onnxq}
shared=${1:-${ONNXQ_SHARED:-../shared}}
out=${2:-holdout-results}
mode=${MODE:-maxdrop}
folds=${FOLDS:-4}
[ "$mode" = default ] && folds=1
seed=${SEED:-1}
maxdrop=${MAXDROP:-1}
python=${PYTHON:-python3}
mkdir -p "$out"
csv="$out/holdout.csv"
[ -s "$csv" ] || echo "model,mode,fold,search_images,heldout_images,file_bpp,quantized_bpw,initializer_bpp,steps,expected_top1_drop,heldout_top1_drop,heldout_top5_drop,top1_lost,top1_gained,top5_lost,top5_gained,agreement,kl,seconds" >"$csv"

# The folds' image lists, as folders of links.
if [ ! -d "$out/fold1" ]; then
    "$python" - "$shared/imagenet-sample" "$out" "$seed" "$folds" <<'PY'
import os, random, sys
src, dst, seed, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
files = sorted(f for f in os.listdir(src) if f.endswith('.JPEG'))
random.Random(seed).shuffle(files)
for f in range(k):
    held = set(files[f::k]) if k > 1 else set(files)
    for part, names in (('search', [x for x in files if x not in held]), ('heldout', sorted(held))):
        d = os.path.join(dst, 'fold%d' % (f + 1), part)
        os.makedirs(d)
        os.symlink(os.path.join(os.path.abspath(src), 'synset_words.txt'),
                   os.path.join(d, 'synset_words.txt'))
        for x in names:
            os.symlink(os.path.join(os.path.abspath(src), x), os.path.join(d, x))
PY
fi

sh bench/models.sh "$shared" | while read -r file preset; do
    name=$(basename "$file" .onnx)
    if [ -n "${MODELS:-}" ]; then
        case " $MODELS " in *" $name "*) ;; *) continue ;; esac
    fi
    f=1
    while [ "$f" -le "$folds" ]; do
        if grep -q "^$name,$mode,$f," "$csv"; then f=$((f + 1)); continue; fi
        dir="$out/fold$f"
        base="$out/$name.$mode.$f"
        start=$(date +%s)
        if [ "$mode" = default ]; then
            # shellcheck disable=SC2086
            "$onnxq" compress "$shared/models/$file" ${ARGS:-} -o "$base.onnx" -f --json \
                >"$base.json" 2>"$base.log"
        else
            # shellcheck disable=SC2086
            "$onnxq" compress "$shared/models/$file" --max-drop "$maxdrop" --images "$dir/search" \
                --preset "$preset" ${ARGS:-} -o "$base.onnx" -f --json >"$base.json" 2>"$base.log"
        fi
        end=$(date +%s)
        "$onnxq" eval "$base.onnx" --images "$dir/heldout" --preset "$preset" \
            --reference "$shared/models/$file" --json -q >"$base.eval.json"
        "$python" - "$base.json" "$base.eval.json" "$name" "$mode" "$f" "$((end - start))" \
            "$dir/search" >>"$csv" <<'PY'
import json, os, sys
s, e = (json.load(open(p)) for p in sys.argv[1:3])
name, mode, fold, seconds, search = sys.argv[3:8]
n_search = len([x for x in os.listdir(search) if x.endswith('.JPEG')]) if mode != 'default' else 0
ed = s.get('decision', {}).get('expected_top1_drop', float('nan'))
print('%s,%s,%s,%d,%d,%.4f,%.4f,%.4f,%s,%.3f,%.2f,%.2f,%d,%d,%d,%d,%.2f,%.6f,%s' % (
    name, mode, fold, n_search, e['images'], s['file_bits_per_parameter'],
    s['quantized_bits_per_weight'], s['initializer_bits_per_parameter'], s.get('steps', '-'), ed,
    e['top1_diff'], e['top5_diff'], e['top1_lost'], e['top1_gained'], e['top5_lost'],
    e['top5_gained'], e['agreement'], e['kl'], seconds))
PY
        rm -f "$base.onnx"
        f=$((f + 1))
    done
done

"$python" - "$csv" <<'PY'
import csv, math, sys
from collections import defaultdict

def interval(lost, gained, n, z=1.96):
    """Agresti-Min 95 % interval of (lost - gained) / n, in points."""
    if n == 0:
        return float('nan'), float('nan')
    p1, p2 = (lost + 0.5) / (n + 2), (gained + 0.5) / (n + 2)
    d = p1 - p2
    se = math.sqrt(max(p1 + p2 - d * d, 0) / (n + 2))
    return 100 * (d - z * se), 100 * (d + z * se)

rows = defaultdict(list)
for r in csv.DictReader(open(sys.argv[1])):
    rows[(r['model'], r['mode'])].append(r)
print('| model | mode | folds | held-out images | bits/param (whole file) | quantized b/w | initializers b/param | steps | top-1 drop [95 %] | top-5 drop [95 %] | fold top-1 drops (min, max) | agreement | expected top-1 drop decided | seconds per run |')
print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
for (m, mode), rs in sorted(rows.items()):
    n = sum(int(r['heldout_images']) for r in rs)
    c = {k: sum(int(r[k]) for r in rs) for k in ('top1_lost', 'top1_gained', 'top5_lost', 'top5_gained')}
    d1 = 100.0 * (c['top1_lost'] - c['top1_gained']) / n
    d5 = 100.0 * (c['top5_lost'] - c['top5_gained']) / n
    l1, h1 = interval(c['top1_lost'], c['top1_gained'], n)
    l5, h5 = interval(c['top5_lost'], c['top5_gained'], n)
    t1 = [float(r['heldout_top1_drop']) for r in rs]
    bpp = sum(float(r['file_bpp']) for r in rs) / len(rs)
    qbw = sum(float(r['quantized_bpw']) for r in rs) / len(rs)
    ibp = sum(float(r['initializer_bpp']) for r in rs) / len(rs)
    steps = '/'.join(r['steps'] for r in rs)
    agree = sum(float(r['agreement']) * int(r['heldout_images']) for r in rs) / n
    ed = [float(r['expected_top1_drop']) for r in rs if r['expected_top1_drop'] != 'nan']
    sec = sum(int(r['seconds']) for r in rs) / len(rs)
    print('| %s | %s | %d | %d | %.3f | %.3f | %.3f | %s | %.2f [%.2f, %.2f] | %.2f [%.2f, %.2f] | %.2f, %.2f | %.1f %% | %s | %d |' % (
        m, mode, len(rs), n, bpp, qbw, ibp, steps, d1, l1, h1, d5, l5, h5, min(t1), max(t1), agree,
        '%.2f' % (sum(ed) / len(ed)) if ed else '-', sec))
PY
