#!/bin/sh
# test-summary.sh [DIR]: add up the individual checks in a finished
# `make check` (Check's "Checks: N, Failures: F, Errors: E" lines and the
# shell tests' "N passed, N failed" lines, the ONNX node tests' line) and
# print one closing line.
dir=${1:-.}
cat "$dir"/tests/*.log 2>/dev/null | awk '
    /^[0-9]+%: Checks: / { gsub(/,/, ""); n += $3; f += $5 + $7 }
    /^[0-9]+ passed, [0-9]+ failed$/ { n += $1 + $3; f += $3 }
    /^node tests: [0-9]+ passed, [0-9]+ failed/ { gsub(/,/, ""); n += $3 + $5; f += $5 }
    END { printf "%d passed, %d failed\n", n - f, f }'
