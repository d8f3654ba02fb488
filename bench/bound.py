#!/usr/bin/env python3
"""bound.py: can any memoryless code meet issue 4's size bound?

The bound: each quantized tensor of 4096 elements or more codes in at most
1.01 x (elements x the empirical entropy of its symbols) + 64 bytes.  For
every such tensor of the shared models under one quantizer setting, this
prints the allowance over the entropy, what onnxq's coder takes over it
(from `onnxq compress --json`), and what two ideal adaptive codes would take
over it, with no table to send:

  kt      Krichevsky-Trofimov (add-1/2) over the range min..max of the indices
  dict_kt the sorted distinct indices sent as Exp-Golomb gaps, then
          Krichevsky-Trofimov over their ranks

Both are computed exactly from the symbol counts (lgamma).  A tensor where
even these exceed the allowance cannot meet the bound with any code that
ignores the order and structure of the weights.  A third column says why
fine steps are out of reach:

  mm      (k - 1) / (2 ln 2) bits, k the number of distinct indices: by
          Miller and Madow (1955) the empirical entropy of n draws falls
          short of the source's entropy by about this much in all, so even
          a code that knew the source's distribution would, on average,
          exceed n x the empirical entropy by it.

The ideal columns need the indices, read back from the reconstruction
levels, which per-channel scales break: with --per-channel only onnxq's
own figures are shown (its report gives each tensor's symbol entropy).

  python3 bench/bound.py [SHARED] [QUANTIZER ARGS...]
  (default: ../shared, --quantizer midtread --bits 8; run from the built tree)
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "shared")
qargs = sys.argv[2:] or ["--quantizer", "midtread", "--bits", "8"]
onnxq = os.environ.get("ONNXQ", os.path.join(here, "..", "src", "onnxq"))


def kt_bits(counts):
    """Code length of a sequence with these symbol counts under KT."""
    k, n = len(counts), int(sum(counts))
    lg = lambda x: math.lgamma(x) / math.log(2)
    return lg(n + k / 2) - lg(k / 2) - sum(lg(c + 0.5) - lg(0.5) for c in counts)


def exp_golomb_bits(gaps):
    return sum(2 * int(math.floor(math.log2(g + 1))) + 1 for g in gaps)


def main():
    per_channel = "--per-channel" in qargs
    total = over_ours = over_ideal = over_both = over_mm = 0
    print("| model | tensor | elements | distinct | allowance | onnxq | kt | dict_kt | mm |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in sorted(os.listdir(os.path.join(shared, "models"))):
        if not name.endswith(".onnx"):
            continue
        path = os.path.join(shared, "models", name)
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([onnxq, "compress", path, "-o", os.path.join(tmp, "c.onnx"),
                                  "--json"] + qargs, capture_output=True, text=True)
            if out.returncode:
                continue
            with tempfile.TemporaryDirectory() as tmp2:
                dec = os.path.join(tmp2, "d.onnx")
                subprocess.run([onnxq, "decompress", os.path.join(tmp, "c.onnx"), "-o", dec],
                               check=True, capture_output=True)
                values = {t.name: numpy_helper.to_array(t).ravel()
                          for t in onnx.load(dec).graph.initializer}
        report = json.loads(out.stdout)
        for t in report["tensors"]:
            if t.get("method") != "quantized" or t["elements"] < 4096:
                continue
            if per_channel:
                n, h = t["elements"], t["entropy"] * t["elements"]
                allowance = 0.01 * h / 8 + 64
                ours = t["payload_bytes"] - h / 8
                total += 1
                over_ours += ours > allowance
                if ours > allowance:
                    print("| %s | %s | %d | - | %.0f | %.0f | - | - | - |" % (
                        name.replace(".onnx", ""), t["name"][:40], n, allowance, ours))
                continue
            # The reconstruction levels stand for the indices one to one.
            _, idx, counts = np.unique(values[t["name"]], return_inverse=True, return_counts=True)
            levels = np.unique(values[t["name"]])
            steps = np.arange(len(levels))  # the ranks, unless the step gives the indices
            for rule in (np.round, np.floor) if t.get("step") else ():
                cand = rule(levels / t["step"]).astype(np.int64)
                if len(np.unique(cand)) == len(levels):
                    steps = cand
                    break
            n = t["elements"]
            h = float(-(counts * np.log2(counts / n)).sum())
            allowance = 0.01 * h / 8 + 64
            ours = t["payload_bytes"] - h / 8
            full = np.zeros(int(steps.max() - steps.min() + 1))
            full[steps - steps.min()] = counts
            kt = kt_bits(full) / 8 - h / 8
            dict_kt = (kt_bits(counts) + exp_golomb_bits(np.diff(steps) - 1) + 64) / 8 - h / 8
            mm = (len(counts) - 1) / (2 * math.log(2)) / 8
            total += 1
            over_ours += ours > allowance
            over_ideal += min(kt, dict_kt) > allowance
            over_both += ours > allowance and min(kt, dict_kt) > allowance
            over_mm += mm > allowance
            if ours > allowance:
                print("| %s | %s | %d | %d | %.0f | %.0f | %.0f | %.0f | %.0f |" % (
                    name.replace(".onnx", ""), t["name"][:40], n, len(counts), allowance, ours,
                    kt, dict_kt, mm))
    print()
    if per_channel:
        print("%d tensors of 4096 elements or more (%s); over the allowance: onnxq %d" % (
            total, " ".join(qargs), over_ours))
        return
    print("%d tensors of 4096 elements or more (%s); over the allowance: onnxq %d, "
          "the better ideal adaptive code %d, both %d; where mm exceeds it %d" % (
              total, " ".join(qargs), over_ours, over_ideal, over_both, over_mm))


if __name__ == "__main__":
    main()
