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
    done
else
    echo "SKIP: ../shared or python3-onnx absent: decode comparison skipped"
fi
finish
