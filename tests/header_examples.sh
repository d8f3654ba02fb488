#!/bin/sh
# The examples in the public headers' comments compile: each block of
# comment lines indented by five spaces, after an empty comment line,
# becomes the body of a function
# that has the names the examples use, built against the headers alone.
. "$ONNXQ_TESTDIR/lib.sh"

top="$ONNXQ_TESTDIR/.."
cc=${ONNXQ_CC:-${CC:-cc}}
for h in "$top"/include/onnxq/*.h; do
    name=$(basename "$h" .h)
    awk -v header="$name" '
        /^ \*     / && (inblock || prev == " *") { if (!inblock) { n++; printf "static void example_%s_%d(onnxq_model *model, const void *stream, size_t size, float *pixels)\n{\n    onnxq_error err;\n", header, n }
                      inblock = 1; prev = $0; sub(/^ \*     /, ""); print "    " $0; next }
        inblock { print "    (void)err;\n}\n"; inblock = 0 }
        { prev = $0 }
        END { if (inblock) print "    (void)err;\n}\n"; printf "/* %d examples */\n", n }
    ' "$h" >"$WORK/$name.body"
    count=$(sed -n 's|^/\* \([0-9]*\) examples \*/$|\1|p' "$WORK/$name.body")
    [ "${count:-0}" -gt 0 ] || continue
    {
        printf '#include <stdlib.h>\n#include "onnxq/onnxq.h"\n#include "onnxq/decode.h"\n'
        printf '#include "onnxq/engine.h"\n#include "onnxq/eval.h"\n#include "onnxq/search.h"\n'
        cat "$WORK/$name.body"
    } >"$WORK/$name.c"
    check "onnxq/$name.h: its $count example(s) compile" "$cc" -std=c11 -fsyntax-only \
        -Werror=implicit-function-declaration -Werror=incompatible-pointer-types \
        -Werror=int-conversion -Wno-unused -I"$top/include" "$WORK/$name.c"
done

finish
