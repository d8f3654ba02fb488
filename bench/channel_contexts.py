#!/usr/bin/env python3
"""channel_contexts.py: would coding each output channel's indices with a
frequency table of its class (channels grouped by their mean magnitude)
beat one table per tensor?  An estimate, not a coder: the tensors of a
compressed FILE are re-quantized from the ORIGINAL's weights with the step
FILE used (dead-zone, sigma 0.25, rounding to nearest), and the 0th-order
entropy of the indices is set against the conditional entropy given the
channel's class, plus log2(C) bits per channel and 40 bits per table.

    python3 bench/channel_contexts.py ORIGINAL.onnx FILE.onnx
    (FILE.json from `onnxq inspect FILE --json` is read when given instead)
"""
import json
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def entropy_bits(k):
    _, c = np.unique(k, return_counts=True)
    p = c / c.sum()
    return -(c * np.log2(p)).sum()


def main(original, compressed):
    if compressed.endswith('.json'):
        info = json.load(open(compressed))
    else:
        info = json.loads(subprocess.check_output(['onnxq', 'inspect', compressed, '--json']))
    steps = {t['name']: t['step'] for t in info['initializers'] if t.get('method') == 'quantized'}
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(original).graph.initializer}
    total, n, classed = 0.0, 0, {2: 0.0, 4: 0.0, 8: 0.0}
    for name, step in steps.items():
        w = weights.get(name)
        if w is None or w.ndim < 2:
            continue
        a = np.abs(w.astype(np.float64)) / step
        k = np.where(a <= 0.25, 0, np.sign(w) * (np.floor(a - 0.25) + 1)).astype(np.int64)
        k = k.reshape(k.shape[0], -1)
        total += entropy_bits(k)
        n += k.size
        mag = np.abs(k).mean(1)
        for c in classed:
            cuts = np.quantile(mag, np.linspace(0, 1, c + 1)[1:-1])
            cls = np.searchsorted(cuts, mag)
            classed[c] += sum(entropy_bits(k[cls == j]) for j in range(c) if (cls == j).any())
            classed[c] += k.shape[0] * np.log2(c) + c * 40
    print('0th-order %.4f bits/weight over %d weights' % (total / n, n))
    for c, bits in classed.items():
        print('%d channel classes: %.4f bits/weight (%.2f %% less)' % (c, bits / n, 100 * (1 - bits / total)))


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
