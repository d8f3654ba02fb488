#!/bin/sh
# latency.sh: onnxq's engine against onnxruntime, latency for one image,
# measured the same way for both (bench_engine --latency and
# bench/ort_latency.js: same pseudo-random input, median of repeated runs)
# and in alternation, ROUNDS times per model, so both see the same state of
# a shared machine.  Prints each one's median over the rounds and the ratio.
#
#   sh bench/latency.sh [SHARED] [--csv]   (from the built tree; needs node and npm)
#
# THREADS (default 2) threads; ROUNDS (default 5) rounds.  onnxruntime-node
# 1.20.1 is installed as bench/ort.sh installs it.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${1:-${ONNXQ_SHARED:-$here/../shared}}
csv=${2:-}
threads=${THREADS:-2}
rounds=${ROUNDS:-5}
ort_dir=${ORT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/onnxq/ort}
if [ ! -d "$ort_dir/node_modules/onnxruntime-node" ]; then
    mkdir -p "$ort_dir"
    (cd "$ort_dir" && npm install --silent --no-save --ignore-scripts onnxruntime-node@1.20.1)
fi
median() { sort -n | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
if [ "$csv" = --csv ]; then
    echo "model,threads,onnxq_ms,onnxruntime_ms,ratio"
else
    echo "| model | onnxq ms | onnxruntime ms | ratio |"
    echo "|---|---|---|---|"
fi
for model in "$shared"/models/*.onnx; do
    name=$(basename "$model" .onnx)
    ours= theirs=
    i=0
    while [ $i -lt "$rounds" ]; do
        ours="$ours $(OPENBLAS_NUM_THREADS=1 "$here/libtool" --mode=execute "$here/bench/bench_engine" --latency "$threads" "$model")"
        theirs="$theirs $(NODE_PATH="$ort_dir/node_modules" node "$here/bench/ort_latency.js" "$model" "$threads")"
        i=$((i + 1))
    done
    a=$(echo $ours | tr ' ' '\n' | median)
    b=$(echo $theirs | tr ' ' '\n' | median)
    r=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", a / b}')
    if [ "$csv" = --csv ]; then
        echo "$name,$threads,$a,$b,$r"
    else
        printf '| %s | %.2f | %.2f | %s |\n' "$name" "$a" "$b" "$r"
    fi
done
