"""Writes a tiny IDX dataset and a model that reads it, for the eval tests.

    make_idx_set.py OUTDIR

The model picks the brightest of pixels 0..9 (Flatten, then a Gemm whose
weights select them), and image i has pixel label[i] at 255 and the others
of 0..9 below 200, so the model's answer is known: it is right except on
the 10 of 50 images whose label file entry was deliberately shifted, a
top-1 of exactly 80 %.  The top-5 this gives is computed here and written
to expected.json.  Images are written gzip'd and plain.
"""
import gzip
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
n = 50
labels = rng.integers(0, 10, n).astype(np.uint8)
images = rng.integers(0, 200, (n, 28, 28)).astype(np.uint8)
for i in range(n):
    images[i].flat[labels[i]] = 255
written = labels.copy()
written[:10] = (written[:10] + 1) % 10

def idx(magic, dims, data):
    return struct.pack('>I', magic) + b''.join(struct.pack('>I', d) for d in dims) + data.tobytes()

img = idx(0x803, [n, 28, 28], images)
lab = idx(0x801, [n], written)
open(os.path.join(out, 'images-idx3-ubyte'), 'wb').write(img)
open(os.path.join(out, 'labels-idx1-ubyte'), 'wb').write(lab)
gzip.open(os.path.join(out, 'images-idx3-ubyte.gz'), 'wb').write(img)
gzip.open(os.path.join(out, 'labels-idx1-ubyte.gz'), 'wb').write(lab)
open(os.path.join(out, 'truncated-idx3-ubyte'), 'wb').write(img[:1000])

scores = images.reshape(n, -1)[:, :10].astype(np.int64)
rank = [(scores[i] > scores[i, written[i]]).sum() + ((scores[i] == scores[i, written[i]]) &
        (np.arange(10) < written[i])).sum() for i in range(n)]
json.dump({'top1': 100.0 * sum(r < 1 for r in rank) / n, 'top5': 100.0 * sum(r < 5 for r in rank) / n},
          open(os.path.join(out, 'expected.json'), 'w'))

w = np.zeros((784, 10), np.float32)
for k in range(10):
    w[k, k] = 1
graph = helper.make_graph(
    [helper.make_node('Flatten', ['x'], ['flat']),
     helper.make_node('Gemm', ['flat', 'w'], ['y'])],
    'pick', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 1, 28, 28])],
    [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 10])],
    [numpy_helper.from_array(w, 'w')])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
model.ir_version = 7
onnx.save(model, os.path.join(out, 'pick.onnx'))
