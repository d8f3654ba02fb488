#!/bin/sh
# fuzz.sh [SECONDS]: build the libFuzzer targets of tests/fuzz with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, and run each for SECONDS
# (default 60).  Each starts from real files (the bundled model and its
# compressed forms, bitstreams cut from them, ONNX node-test models, a few
# JPEGs of ../shared, Fashion-MNIST records) and from the regression corpus
# tests/fuzz/corpus/TARGET.  A crash fails the run and leaves its input in
# fuzz-out/; once fixed, keep it under tests/fuzz/corpus/TARGET.
# Needs the tree configured and built (config.h, the generated ONNX code,
# src/onnxq for the seeds), clang and libclang-rt-dev.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-60}
shared=${ONNXQ_SHARED:-../shared}
out=fuzz-out
python=${PYTHON_ONNX:-/usr/bin/python3}
mkdir -p "$out"
seeds=$(mktemp -d /tmp/onnxq-fuzz-seeds-XXXXXX)
trap 'rm -rf "$seeds"' EXIT

# ---- build -------------------------------------------------------------------
flag() { sed -n "s/^$1 = //p" Makefile; }
cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
  -Wno-unknown-pragmas -DHAVE_CONFIG_H -I. -Iinclude -Isrc -Isrc/gen $(flag CBLAS_CFLAGS)"
libs="$(flag PROTOBUF_C_LIBS) $(flag ZSTD_LIBS) $(flag CBLAS_LIBS) $(flag ZLIB_LIBS) $(flag JPEG_LIBS) -lm"
targets="onnx codec decode jpeg idx"
for t in $targets; do
    if [ "$t" = decode ]; then # the decoder library alone: its sources, libc and libm
        # shellcheck disable=SC2086
        clang $cflags -o "$out/fuzz_$t" "tests/fuzz/fuzz_$t.c" src/common/*.c src/decode/*.c \
            $(flag ZSTD_LIBS) -lm
        continue
    fi
    # shellcheck disable=SC2086
    clang $cflags -o "$out/fuzz_$t" "tests/fuzz/fuzz_$t.c" src/common/*.c src/decode/*.c src/encode/*.c src/model/*.c src/compress/*.c src/engine/*.c src/tune/*.c src/gen/onnx.pb-c.c $libs
done

# ---- seeds -------------------------------------------------------------------
for t in $targets; do mkdir -p "$seeds/$t" "$out/corpus-$t"; done
model=models/lenet5-fashion.onnx
cp "$model" "$seeds/onnx/lenet5.onnx"
i=0
for opts in "" "--lossless" "--quantizer mulaw" "--quantizer float --bits 8" \
    "--quantizer int --bits 8 --per-channel --asymmetric" "--quantizer midrise --all"; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    src/onnxq compress "$model" $opts -o "$seeds/onnx/lenet5-$i.onnxq.onnx" -f >/dev/null
done
# Weights already on an int grid, quantized again finer: lattice streams.
src/onnxq compress "$model" --quantizer int --bits 6 -o "$seeds/int.onnx" -f >/dev/null
src/onnxq decompress "$seeds/int.onnx" -o "$seeds/grid.onnx" -f >/dev/null
src/onnxq compress "$seeds/grid.onnx" --quantizer midtread --bits 10 \
    -o "$seeds/onnx/lenet5-lattice.onnxq.onnx" -f >/dev/null
rm -f "$seeds/int.onnx" "$seeds/grid.onnx"
"$python" - "$seeds/onnx" "$seeds/codec" <<'PY'
import glob, os, sys
import onnx
for path in glob.glob(os.path.join(sys.argv[1], "*.onnxq.onnx")):
    for t in onnx.load(path).graph.initializer:
        if t.name.endswith("::onnxq"):
            name = os.path.basename(path) + "-" + t.name.replace("/", "_").replace(":", "_")
            open(os.path.join(sys.argv[2], name), "wb").write(t.raw_data)
PY
cp "$seeds"/codec/* "$seeds/decode/" # the same streams, through the public API
n=0
for f in /usr/include/onnx/backend/test/data/node/*/model.onnx; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    [ $((n % 8)) -eq 0 ] && cp "$f" "$seeds/onnx/node-$n.onnx"
done
if [ -d "$shared/imagenet-sample" ]; then
    # The five smallest, and the first (sizes and layouts vary).
    for f in $(ls -S "$shared/imagenet-sample"/*.JPEG | tail -n 5) \
        $(ls "$shared/imagenet-sample"/*.JPEG | head -n 1); do
        cp "$f" "$seeds/jpeg/"
    done
fi
data=/usr/share/datasets/fashion-mnist
if [ -f "$data/t10k-images-idx3-ubyte.gz" ]; then
    "$python" - "$data" "$seeds/idx" <<'PY'
import gzip, os, struct, sys
d, out = sys.argv[1:3]
labels = gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).read()
images = gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz")).read()
for n in (1, 3):
    lab = struct.pack(">II", 0x801, n) + labels[8:8 + n]
    img = struct.pack(">IIII", 0x803, n, 28, 28) + images[16:16 + n * 784]
    for z, (l, i) in enumerate(((lab, img), (gzip.compress(lab), gzip.compress(img)))):
        open(os.path.join(out, "fashion-%d-%d" % (n, z)), "wb").write(struct.pack("<H", len(l)) + l + i)
PY
fi

# ---- run ---------------------------------------------------------------------
status=0
for t in $targets; do
    regress=tests/fuzz/corpus/$t
    set -- "$out/corpus-$t" "$seeds/$t"
    [ -d "$regress" ] && set -- "$@" "$regress"
    echo "== fuzz_$t for $seconds s"
    if ! "$out/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 \
        -artifact_prefix="$out/$t-" -print_final_stats=1 "$@" >"$out/$t.log" 2>&1; then
        echo "fuzz_$t: FAILED (the input is in $out/, the log in $out/$t.log)"
        tail -n 40 "$out/$t.log"
        status=1
    else
        grep -E "stat::number_of_executed_units|cov:" "$out/$t.log" | tail -n 2
    fi
done
exit $status
