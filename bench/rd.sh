#!/bin/sh
# rd.sh: the seed paper's experiment on every shared model: sweep the
# quantizers over 2..16 bits (every float tensor quantized), score each point
# on imagenet-sample, and tabulate the best point within 1 % top-1 and top-5
# drop, in coded bits per weight.  CSV and SVG per model go to OUT.
#   sh bench/rd.sh [SHARED] [OUT]   (run from the built tree; hours on 2 cores)
set -eu
cd "$(dirname "$0")/.."
shared=${1:-${ONNXQ_SHARED:-../shared}}
out=${2:-rd-results}
mkdir -p "$out"
printf '| model | best point within 1 %% drop | coded b/w | entropy b/w | top-1 drop | top-5 drop |\n|---|---|---|---|---|---|\n' >"$out/table.md"
sh bench/models.sh "$shared" | while read -r file preset; do
    name=$(basename "$file" .onnx)
    src/onnxq sweep "$shared/models/$file" --all --images "$shared/imagenet-sample" \
        --preset "$preset" -o "$out/$name.csv" --svg "$out/$name.svg" -f 2>"$out/$name.log"
    best=$(grep "^best within" "$out/$name.log" || true)
    awk -F, -v m="$name" 'NR > 1 && $10 <= 1 && $11 <= 1 && (best == "" || $5 < bpw) {
        best = $1 " " $3 " bits"; bpw = $5; h = $4; d1 = $10; d5 = $11 }
        END { printf "| %s | %s | %.3f | %.3f | %.2f | %.2f |\n", m, best, bpw, h, d1, d5 }' \
        "$out/$name.csv" >>"$out/table.md"
    echo "$name: $best"
done
cat "$out/table.md"
