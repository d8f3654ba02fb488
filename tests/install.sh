#!/bin/sh
# make install into a staging root, then build the example against the
# installed library through pkg-config and check that it decodes a tensor
# bit for bit as `onnxq decompress` does.
. "$ONNXQ_TESTDIR/lib.sh"

if [ "${ONNXQ_SANITIZERS:-no}" = yes ]; then
    echo "SKIP: sanitizer build: the example would need the sanitizer runtime too"
    finish
    exit $?
fi
root="$WORK/root"
if ! make -s -C "$ONNXQ_BUILDDIR" install DESTDIR="$root" >"$WORK/install.log" 2>&1; then
    cat "$WORK/install.log"
    fail "make install"
    finish
    exit 1
fi
pass "make install"
pc=$(find "$root" -name onnxq.pc | head -n 1)
check "onnxq.pc installed" [ -n "$pc" ]
pcdir=$(dirname "$pc")
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$root"
# pkgconf puts the sysroot before variables, pkg-config 0.29 does not.
in_root() { case "$1" in "$root"*) echo "$1" ;; *) echo "$root$1" ;; esac; }
libdir=$(in_root "$(pkg-config --variable=libdir onnxq)")
check "headers installed" [ -f "$(in_root "$(pkg-config --variable=includedir onnxq)")/onnxq/decode.h" ]
check "man page installed" sh -c "find '$root' -path '*/man1/onnxq.1' | grep -q ."
bin=$(find "$root" -path '*/bin/onnxq' | head -n 1)
check "installed onnxq runs" sh -c "LD_LIBRARY_PATH='$libdir' '$bin' --version"
# shellcheck disable=SC2046
check "example builds with pkg-config" ${ONNXQ_CC:-cc} -o "$WORK/decode_tensor" \
    "$ONNXQ_TESTDIR/../examples/decode_tensor.c" $(pkg-config --cflags --libs onnxq)

# ---- The decoder alone --------------------------------------------------------
check "onnxq-decode.pc installed" [ -f "$pcdir/onnxq-decode.pc" ]
# shellcheck disable=SC2046
check "the device example builds with pkg-config onnxq-decode" ${ONNXQ_CC:-cc} -o "$WORK/decode_stream" \
    "$ONNXQ_TESTDIR/../examples/decode_stream.c" $(pkg-config --cflags --libs onnxq-decode)
LD_LIBRARY_PATH="$libdir" ldd "$WORK/decode_stream" >"$WORK/ldd.txt" 2>&1
check "the device example links libonnxq-decode" grep -q "libonnxq-decode" "$WORK/ldd.txt"
check "and no protobuf-c, BLAS, jpeg, zlib or OpenMP library" \
    sh -c "! grep -E 'libprotobuf-c|blas|libjpeg|libz\.|libgomp|libonnxq\.so' '$WORK/ldd.txt'"

# ---- Only the public API exported --------------------------------------------------
for lib in libonnxq.so libonnxq-decode.so; do
    nm -D --defined-only "$libdir/$lib" | awk '{print $3}' >"$WORK/$lib.syms"
    check "$lib exports only onnxq_ functions ($(wc -l <"$WORK/$lib.syms") of them)" \
        sh -c "[ -s '$WORK/$lib.syms' ] && ! grep -v '^onnxq_' '$WORK/$lib.syms'"
done
check "libonnxq-decode exports the stream calls" \
    sh -c "grep -qx onnxq_stream_decode '$WORK/libonnxq-decode.so.syms' && grep -qx onnxq_stream_inspect '$WORK/libonnxq-decode.so.syms'"

# ---- A static link through pkg-config --static --------------------------------------
# shellcheck disable=SC2046
check "a static program that decompresses in memory and runs the engine links" \
    ${ONNXQ_CC:-cc} -static -o "$WORK/load_memory" "$ONNXQ_TESTDIR/../examples/load_memory.c" \
    $(pkg-config --static --cflags --libs onnxq)
check "it needs no shared library" sh -c "! ldd '$WORK/load_memory' 2>&1 | grep -q '=>'"
"$ONNXQ" compress "$ONNXQ_TESTDIR/../models/lenet5-fashion.onnx" -o "$WORK/lenet.onnx" >/dev/null
"$ONNXQ" decompress "$WORK/lenet.onnx" -o "$WORK/lenet-plain.onnx" >/dev/null
check "it runs" sh -c "'$WORK/load_memory' '$WORK/lenet.onnx' '$WORK/lenet-mem.onnx' | grep -q '10 outputs'"
check "onnxq_decompress_memory gives the bytes onnxq decompress writes" \
    cmp -s "$WORK/lenet-mem.onnx" "$WORK/lenet-plain.onnx"

if have_shared && have_python_onnx; then
    sq="$ONNXQ_SHARED/models/squeezenet1.1.onnx"
    "$ONNXQ" compress "$sq" -o "$WORK/c.onnx" >/dev/null
    "$ONNXQ" decompress "$WORK/c.onnx" -o "$WORK/d.onnx" >/dev/null
    for t in conv10_w_0 fire9/expand3x3_w_0 conv1_w_0; do
        LD_LIBRARY_PATH="$libdir" "$WORK/decode_tensor" "$WORK/c.onnx" "$t" "$WORK/t.bin" >/dev/null
        check "$t: the example decodes what decompress writes" "$PYTHON_ONNX" -c '
import sys, onnx
m = onnx.load(sys.argv[1])
t = next(t for t in m.graph.initializer if t.name == sys.argv[2])
assert t.raw_data == open(sys.argv[3], "rb").read()
' "$WORK/d.onnx" "$t" "$WORK/t.bin"
        "$PYTHON_ONNX" -c '
import sys, onnx
m = onnx.load(sys.argv[1])
t = next(t for t in m.graph.initializer if t.name == sys.argv[2] + "::onnxq")
open(sys.argv[3], "wb").write(t.raw_data)' "$WORK/c.onnx" "$t" "$WORK/stream.bin"
        LD_LIBRARY_PATH="$libdir" "$WORK/decode_stream" "$WORK/stream.bin" "$WORK/s.bin" >/dev/null
        check "$t: the device example decodes the same bytes" cmp -s "$WORK/t.bin" "$WORK/s.bin"
    done
else
    echo "SKIP: ../shared or python3-onnx absent: decode comparison skipped"
fi
finish
