#!/bin/sh
# models.sh SHARED: the shared models with float weights and their preset,
# "FILE PRESET" per line, from the table of SHARED/models/README.md.  The
# int8 zoo model is left out: its weights are integers, nothing to quantize.
awk -F'|' '/^\|.*\.onnx/ { gsub(/`| /, "", $2); sub(/\(.*/, "", $2); gsub(/ /, "", $7); print $2, $7 }' \
    "$1/models/README.md" | grep -v '^mobilenetv2-12-int8\.onnx '
