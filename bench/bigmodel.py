#!/usr/bin/env python3
"""Write a large ONNX model with external data, for bench/bigmodel.sh.

A decoder-sized stack: an embedding table (the largest tensor) gathered by
token id, then a chain of square MatMuls.  Weights are Laplacian (scale
0.02), as trained weights roughly are.  Written a tensor at a time, so
this script needs little memory whatever the size.

usage: bigmodel.py OUT.onnx [--vocab 32000] [--width 4096] [--layers 40]
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper


def external(name, dims, location, offset, length):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = t.external_data.add()
        entry.key = key
        entry.value = value
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--layers", type=int, default=40)
    a = ap.parse_args()
    location = os.path.basename(a.out) + ".data"
    rng = np.random.default_rng(1)
    inits, offset = [], 0
    shapes = [("embedding", (a.vocab, a.width))] + [
        ("layer%d.weight" % i, (a.width, a.width)) for i in range(a.layers)]
    with open(a.out + ".data", "wb") as f:
        for name, shape in shapes:
            rows_per_chunk = max(1, (1 << 24) // shape[1])
            for r in range(0, shape[0], rows_per_chunk):
                n = min(rows_per_chunk, shape[0] - r)
                rng.laplace(0.0, 0.02, size=(n, shape[1])).astype("<f4").tofile(f)
            length = shape[0] * shape[1] * 4
            inits.append(external(name, shape, location, offset, length))
            offset += length
    nodes = [helper.make_node("Gather", ["embedding", "ids"], ["h0"], axis=0)]
    for i in range(a.layers):
        nodes.append(helper.make_node("MatMul", ["h%d" % i, "layer%d.weight" % i], ["h%d" % (i + 1)]))
    graph = helper.make_graph(
        nodes, "big",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("h%d" % a.layers, TensorProto.FLOAT, [1, a.width])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    with open(a.out, "wb") as f:
        f.write(model.SerializeToString())
    print("%s: %d tensors, %d bytes of weights in %s, largest %d bytes" % (
        a.out, len(shapes), offset, location, a.vocab * a.width * 4))


if __name__ == "__main__":
    main()
