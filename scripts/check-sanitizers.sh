#!/bin/sh
# check-sanitizers.sh: run the test suite once more in a separate copy of
# the tree built with AddressSanitizer and UndefinedBehaviorSanitizer.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
work=$(mktemp -d /tmp/onnxq-asan-XXXXXX)
trap 'rm -rf "$work"' EXIT
# The tracked and new files, without this tree's build output.
git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$work"
cd "$work"
autoreconf -fi >/dev/null 2>&1
./configure -q --enable-sanitizers
make -j"$(nproc)" >/dev/null
export ONNXQ_SHARED="${ONNXQ_SHARED:-$top/../shared}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if ! make -j"$(nproc)" check; then
    cat test-suite.log
    exit 1
fi
grep -h "Checks:" tests/*.log
printf 'sanitizer run: '
sh scripts/test-summary.sh .
