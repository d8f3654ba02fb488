#!/bin/sh
# maxdrop.sh: `onnxq compress --max-drop 1` on every shared model with float
# weights, each result confirmed by a separate `onnxq eval` of the written file.
#   sh bench/maxdrop.sh [SHARED] [OUT]   (run from the built tree; ONNXQ=path
#   runs another build of the command)
set -eu
cd "$(dirname "$0")/.."
onnxq=${ONNXQ:-src/onnxq}
shared=${1:-${ONNXQ_SHARED:-../shared}}
out=${2:-maxdrop-results}
mkdir -p "$out"
printf '| model | coded b/w | file bytes | top-1 (drop) | top-5 (drop) | seconds |\n|---|---|---|---|---|---|\n' >"$out/table.md"
sh bench/models.sh "$shared" | while read -r file preset; do
    name=$(basename "$file" .onnx)
    start=$(date +%s)
    "$onnxq" compress "$shared/models/$file" --max-drop 1 --images "$shared/imagenet-sample" \
        --preset "$preset" -o "$out/$name.onnx" -f --json >"$out/$name.json" 2>"$out/$name.log"
    end=$(date +%s)
    "$onnxq" eval "$out/$name.onnx" --images "$shared/imagenet-sample" --preset "$preset" \
        --reference "$shared/models/$file" --json -q >"$out/$name.eval.json"
    python3 -c '
import json, sys
s, e = (json.load(open(p)) for p in sys.argv[1:3])
print("| %s | %.3f | %d | %.1f (%.1f) | %.1f (%.1f) | %s |" % (sys.argv[3], s["coded_bits_per_weight"],
      s["file_bytes"], e["top1"], e["reference_top1"] - e["top1"], e["top5"],
      e["reference_top5"] - e["top5"], sys.argv[4]))' "$out/$name.json" "$out/$name.eval.json" \
        "$name" "$((end - start))" >>"$out/table.md"
done
cat "$out/table.md"
