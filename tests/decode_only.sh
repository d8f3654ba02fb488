#!/bin/sh
# The decoder alone: ./configure --enable-decode-only builds libonnxq-decode
# and nothing else, with no package but libc, libm and (optionally) zstd;
# the device example built against it decodes what the full build wrote.
# Then the same for aarch64 with Debian's cross compiler, run under
# qemu-user, when both are installed (docs/DEVICE.md, the recipe).
. "$ONNXQ_TESTDIR/lib.sh"

src=$(cd "$ONNXQ_TESTDIR/.." && pwd)
if [ ! -x "$src/configure" ]; then
    echo "SKIP: no configure script in $src"
    finish
    exit $?
fi
# A configured source tree cannot also be configured out of tree: copy
# what the decoder's build needs (timestamps kept, so nothing regenerates).
tree="$WORK/tree"
mkdir -p "$tree/src" "$tree/examples"
(cd "$src" && cp -pR configure configure.ac Makefile.am Makefile.in aclocal.m4 config.h.in build-aux m4 include \
    onnxq.pc.in onnxq-decode.pc.in "$tree/") 2>"$WORK/cp.err"
cp -pR "$src/src/common" "$src/src/decode" "$tree/src/"
cp -p "$src/examples/decode_stream.c" "$tree/examples/"
find "$tree/src" \( -name '*.o' -o -name '*.lo' -o -name '.libs' -o -name '.deps' -o -name '.dirstamp' \) \
    -prune -exec rm -rf {} +

build() { # build NAME CONFIGURE-ARGS...: configure, make and install into $WORK/NAME
    name=$1; shift
    mkdir -p "$WORK/$name"
    (cd "$WORK/$name" && "$tree/configure" --prefix=/usr "$@" >configure.log 2>&1 &&
        make -j"$(nproc 2>/dev/null || echo 2)" >make.log 2>&1 &&
        make install DESTDIR="$WORK/$name/root" >install.log 2>&1)
}

# Streams written by the full build: wide rANS, narrow rANS, and a tensor
# stored with zstd, which a decoder without zstd refuses by name.
lenet="$src/models/lenet5-fashion.onnx"
"$ONNXQ" compress "$lenet" --all -o "$WORK/lenet.onnx" >/dev/null
"$ONNXQ" compress "$lenet" --lossless -o "$WORK/lossless.onnx" >/dev/null
"$ONNXQ" decompress "$WORK/lenet.onnx" -o "$WORK/plain.onnx" >/dev/null
streams=""
if have_python_onnx; then
    "$PYTHON_ONNX" - "$WORK/lenet.onnx" "$WORK/plain.onnx" "$WORK/streams" <<'PY'
import os, sys, onnx
c, p = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
os.makedirs(sys.argv[3])
plain = {t.name: t.raw_data for t in p.graph.initializer}
for t in c.graph.initializer:
    if t.name.endswith("::onnxq"):
        name = t.name[:-7].replace("/", "_")
        open(os.path.join(sys.argv[3], name + ".bin"), "wb").write(t.raw_data)
        open(os.path.join(sys.argv[3], name + ".want"), "wb").write(plain[t.name[:-7]])
PY
    streams=$(ls "$WORK"/streams/*.bin)
fi

# decode_all NAME RUN...: the example decodes every stream to the full build's bytes
decode_all() {
    name=$1; shift
    ok=1
    for s in $streams; do
        "$@" "$s" "$WORK/out.bin" >/dev/null 2>"$WORK/decode.err" && cmp -s "$WORK/out.bin" "${s%.bin}.want" || ok=0
    done
    check "$name: the device example decodes every tensor as the full build does" [ "$ok" = 1 ]
}

if build native --enable-decode-only --without-zstd; then
    pass "decode-only build (no zstd)"
else
    tail -n 20 "$WORK/native/make.log" "$WORK/native/configure.log"
    fail "decode-only build (no zstd)"
    finish
    exit 1
fi
root="$WORK/native/root"
check "it installs libonnxq-decode, its headers and onnxq-decode.pc" \
    sh -c "ls '$root'/usr/lib*/libonnxq-decode.so* >/dev/null 2>&1 && [ -f '$root/usr/include/onnxq/decode.h' ] && ls '$root'/usr/lib*/pkgconfig/onnxq-decode.pc >/dev/null 2>&1"
check "and nothing else: no libonnxq, no onnxq command" \
    sh -c "! ls '$root'/usr/lib*/libonnxq.so* >/dev/null 2>&1 && [ ! -e '$root/usr/bin/onnxq' ]"
lib=$(dirname "$(ls "$root"/usr/lib*/libonnxq-decode.so | head -n 1)")
ldd "$lib/libonnxq-decode.so" >"$WORK/ldd.txt" 2>&1
check "libonnxq-decode needs libc and libm only" \
    sh -c "! grep '=>' '$WORK/ldd.txt' | grep -vE 'libc\\.so|libm\\.so'"
if [ -n "$streams" ]; then
    decode_all "native" "$WORK/native/examples/decode_stream"
    # Lossless tensors (byte planes, some of them through zstd): each one
    # decodes to the same bytes, or is refused in one line naming zstd.
    "$ONNXQ" decompress "$WORK/lossless.onnx" -o "$WORK/lossless-plain.onnx" >/dev/null
    "$PYTHON_ONNX" - "$WORK/lossless.onnx" "$WORK/lossless-plain.onnx" "$WORK/lossless" <<'PY'
import os, sys, onnx
c, p = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
os.makedirs(sys.argv[3])
plain = {t.name: t.raw_data for t in p.graph.initializer}
for t in c.graph.initializer:
    if t.name.endswith("::onnxq"):
        name = t.name[:-7].replace("/", "_")
        open(os.path.join(sys.argv[3], name + ".bin"), "wb").write(t.raw_data)
        open(os.path.join(sys.argv[3], name + ".want"), "wb").write(plain[t.name[:-7]])
PY
    ok=1
    for s in "$WORK"/lossless/*.bin; do
        if "$WORK/native/examples/decode_stream" "$s" "$WORK/out.bin" >/dev/null 2>"$WORK/decode.err"; then
            cmp -s "$WORK/out.bin" "${s%.bin}.want" || ok=0
        else
            [ "$(wc -l <"$WORK/decode.err")" -eq 1 ] && grep -q "built without zstd" "$WORK/decode.err" || ok=0
        fi
    done
    check "lossless tensors: the same bytes, or a one-line refusal naming zstd" [ "$ok" = 1 ]
else
    echo "SKIP: python3-onnx absent: stream comparisons skipped"
fi

# ---- Cross: aarch64, run under qemu-user -------------------------------------------
if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1; then
    if build aarch64 --host=aarch64-linux-gnu --enable-decode-only --without-zstd --disable-shared; then
        pass "aarch64 cross build of the decoder"
        check "the example is an aarch64 program" \
            sh -c "file '$WORK/aarch64/examples/decode_stream' 2>/dev/null | grep -q aarch64 || od -An -tx1 -j18 -N2 '$WORK/aarch64/examples/decode_stream' | grep -q 'b7 00'"
        [ -n "$streams" ] && decode_all "aarch64 under qemu" qemu-aarch64 -L /usr/aarch64-linux-gnu "$WORK/aarch64/examples/decode_stream"
    else
        tail -n 20 "$WORK/aarch64/make.log" "$WORK/aarch64/configure.log"
        fail "aarch64 cross build of the decoder"
    fi
else
    echo "SKIP: aarch64-linux-gnu-gcc or qemu-aarch64 absent: the cross check skipped"
fi
finish
