#!/bin/sh
# engine.sh: inference latency (batch 1) and throughput (batches of 8) of the
# bundled engine on every shared model, with 1 and 2 threads.
#   sh bench/engine.sh [SHARED] [--csv]   (run from the built tree)
set -eu
cd "$(dirname "$0")/.."
shared=${1:-${ONNXQ_SHARED:-../shared}}
csv=${2:-}
# The engine's products are its own; keep OpenBLAS, linked for the
# quantizer's statistics, from starting a pool of threads at load.
OPENBLAS_NUM_THREADS=1 ./libtool --mode=execute bench/bench_engine $csv "$shared"/models/*.onnx
