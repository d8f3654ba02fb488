#!/bin/sh
# fit.sh: seconds to fit every shared model (pooled and per tensor), one core.
#   sh bench/fit.sh [SHARED]   (run from the built tree)
set -eu
cd "$(dirname "$0")/.."
shared=${1:-${ONNXQ_SHARED:-../shared}}
printf '%-42s %8s %s\n' model seconds "best by SSE / KLD (pooled)"
for m in "$shared"/models/*.onnx; do
    start=$(date +%s.%N)
    out=$(taskset -c 0 src/onnxq fit --per-tensor "$m" 2>&1) || { printf '%-42s %s\n' "$(basename "$m")" "$out"; continue; }
    end=$(date +%s.%N)
    best=$(printf '%s\n' "$out" | sed -n 's/^best by SSE: \([a-z]*\).*/\1/p')
    bestk=$(printf '%s\n' "$out" | sed -n 's/^best by KLD: \([a-z]*\).*/\1/p')
    printf '%-42s %8.2f %s / %s\n' "$(basename "$m")" "$(echo "$end - $start" | bc)" "$best" "$bestk"
done
