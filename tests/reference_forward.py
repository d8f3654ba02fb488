"""An independent forward pass, in numpy, for checking the engine.

    reference_forward.py MODEL OUTDIR SEED

Runs MODEL on a pseudo-random input with plain numpy (float64 for float
operators, exact integers for the QLinear ones) and writes OUTDIR/model.onnx
(a link) and OUTDIR/test_data_set_0/{input_0,output_0}.pb, the layout of the
ONNX node tests, so tests/node_tests compares the engine with it.  Covers
the operators of the models in ../shared/models; anything else is an error.
"""
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def windows(x, kernel, strides, pads, fill, ceil=False, extra_fill=None):
    """Sliding windows over x padded by pads; with ceil, the output rounds
    up as ONNX's ceil_mode does (a last window that starts inside the input
    or its leading padding), the overhang filled with extra_fill."""
    h, w = x.shape[2] + pads[0] + pads[2], x.shape[3] + pads[1] + pads[3]
    extra = [0, 0]
    if ceil:
        for a, size in enumerate((h, w)):
            out = -(-(size - kernel[a]) // strides[a]) + 1
            if (out - 1) * strides[a] >= size - pads[a + 2]:
                out -= 1
            extra[a] = max(0, (out - 1) * strides[a] + kernel[a] - size)
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])),
               constant_values=fill)
    if extra[0] or extra[1]:
        x = np.pad(x, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])),
                   constant_values=fill if extra_fill is None else extra_fill)
    n, c, h, w = x.shape
    oh = (h - kernel[0]) // strides[0] + 1
    ow = (w - kernel[1]) // strides[1] + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (n, c, oh, ow, kernel[0], kernel[1]),
        (s[0], s[1], s[2] * strides[0], s[3] * strides[1], s[2], s[3]))


def conv(node, x, w):
    group = attr(node, 'group', 1)
    win = windows(x, w.shape[2:], attr(node, 'strides', [1, 1]),
                  attr(node, 'pads', [0, 0, 0, 0]), 0)
    cg, mg = x.shape[1] // group, w.shape[0] // group
    if cg == 1 and mg == 1:  # depthwise, in one go
        return np.einsum('nchwij,cij->nchw', win, w[:, 0])
    return np.concatenate([np.einsum('nchwij,mcij->nmhw', win[:, g * cg:(g + 1) * cg],
                                     w[g * mg:(g + 1) * mg]) for g in range(group)], axis=1)


def saturate(v, dtype):
    lo, hi = (0, 255) if dtype == np.uint8 else (-128, 127)
    return np.clip(v, lo, hi).astype(dtype)


def requantize(acc, mult, zero, dtype):
    return saturate(np.rint(acc.astype(np.float32) * mult) + int(zero), dtype)


def run(model, x):
    v = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    v[model.graph.input[0].name] = x
    for node in model.graph.node:
        i = [v[k] if k else None for k in node.input]
        op = node.op_type
        f64 = [a.astype(np.float64) if a is not None and a.dtype == np.float32 else a for a in i]
        if op == 'Conv':
            y = conv(node, f64[0], f64[1])
            if len(i) > 2:
                y = y + f64[2][None, :, None, None]
        elif op == 'Relu':
            y = np.maximum(f64[0], 0)
        elif op == 'Clip':
            lo = i[1] if len(i) > 1 else attr(node, 'min', -np.inf)
            hi = i[2] if len(i) > 2 else attr(node, 'max', np.inf)
            y = np.clip(f64[0], lo, hi)
        elif op == 'HardSigmoid':
            y = np.clip(attr(node, 'alpha', 0.2) * f64[0] + attr(node, 'beta', 0.5), 0, 1)
        elif op == 'Add':
            y = f64[0] + f64[1]
        elif op == 'Mul':
            y = f64[0] * f64[1]
        elif op in ('MaxPool', 'AveragePool'):
            k, st = attr(node, 'kernel_shape', None), attr(node, 'strides', [1, 1])
            pads = attr(node, 'pads', [0, 0, 0, 0])
            ceil = bool(attr(node, 'ceil_mode', 0))
            if op == 'MaxPool':
                y = windows(f64[0], k, st, pads, -np.inf, ceil).max(axis=(4, 5))
            else:
                total = windows(f64[0], k, st, pads, 0, ceil).sum(axis=(4, 5))
                ones = np.ones_like(f64[0][:1, :1])
                # The overhang ceil_mode adds is never counted, padding only
                # with count_include_pad.
                count = windows(ones, k, st, pads, 1 if attr(node, 'count_include_pad', 0) else 0,
                                ceil, 0)
                y = total / count.sum(axis=(4, 5))
        elif op == 'LRN':
            size = attr(node, 'size', None)
            sq = np.pad(f64[0] ** 2, ((0, 0), ((size - 1) // 2, size // 2), (0, 0), (0, 0)))
            total = sum(sq[:, j:j + f64[0].shape[1]] for j in range(size))
            y = f64[0] / (attr(node, 'bias', 1.0) + attr(node, 'alpha', 1e-4) / size * total) ** attr(node, 'beta', 0.75)
        elif op in ('Identity', 'Dropout'):
            y = i[0]
        elif op == 'GlobalAveragePool':
            y = f64[0].mean(axis=(2, 3), keepdims=True)
        elif op == 'BatchNormalization':
            scale, bias, mean, var = (a[None, :, None, None] for a in f64[1:5])
            y = (f64[0] - mean) / np.sqrt(var + attr(node, 'epsilon', 1e-5)) * scale + bias
        elif op == 'Concat':
            y = np.concatenate(i, axis=attr(node, 'axis', 0))
        elif op == 'Flatten':
            a = attr(node, 'axis', 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:a])), -1)
        elif op == 'Reshape':
            shape = [i[0].shape[k] if d == 0 else d for k, d in enumerate(i[1])]
            y = i[0].reshape(shape)
        elif op == 'Transpose':
            y = np.transpose(i[0], attr(node, 'perm', None))
        elif op == 'Gemm':
            a = f64[0].T if attr(node, 'transA', 0) else f64[0]
            b = f64[1].T if attr(node, 'transB', 0) else f64[1]
            y = attr(node, 'alpha', 1.0) * a @ b + attr(node, 'beta', 1.0) * f64[2]
        elif op == 'Softmax':
            z = f64[0].reshape(f64[0].shape[0], -1)
            z = np.exp(z - z.max(axis=1, keepdims=True))
            y = (z / z.sum(axis=1, keepdims=True)).reshape(f64[0].shape)
        elif op == 'Shape':
            y = np.array(i[0].shape, dtype=np.int64)
        elif op == 'Gather':
            y = np.take(i[0], i[1], axis=attr(node, 'axis', 0))
        elif op == 'Unsqueeze':
            y = np.expand_dims(i[0], tuple(attr(node, 'axes', [])))
        elif op == 'QuantizeLinear':
            y = saturate(np.rint(i[0] / i[1]) + i[2].astype(np.int64), i[2].dtype)
        elif op == 'DequantizeLinear':
            y = ((i[0].astype(np.int64) - i[2].astype(np.int64)).astype(np.float32) * i[1])
        elif op == 'QLinearConv':
            x8 = i[0].astype(np.int64) - int(i[2])
            w8 = i[3].astype(np.int64) - i[5].astype(np.int64).reshape(-1, 1, 1, 1)
            acc = conv(node, x8, w8)
            if len(i) > 8:
                acc = acc + i[8].astype(np.int64)[None, :, None, None]
            mult = (np.float32(i[1]) * i[4].astype(np.float32) / np.float32(i[6]))
            y = requantize(acc, mult.astype(np.float32)[None, :, None, None], i[7], i[7].dtype)
        elif op == 'QLinearMatMul':
            acc = (i[0].astype(np.int64) - int(i[2])) @ (i[3].astype(np.int64) - i[5].astype(np.int64))
            mult = np.float32(i[1]) * i[4].astype(np.float32) / np.float32(i[6])
            y = requantize(acc, mult.astype(np.float32), i[7], i[7].dtype)
        elif op == 'QLinearAdd':
            a = (i[0].astype(np.float32) - np.float32(i[2])) * (np.float32(i[1]) / np.float32(i[6]))
            b = (i[3].astype(np.float32) - np.float32(i[5])) * (np.float32(i[4]) / np.float32(i[6]))
            y = saturate(np.rint(a + b) + int(i[7]), i[7].dtype)
        elif op == 'QLinearGlobalAveragePool':
            area = i[0].shape[2] * i[0].shape[3]
            s = i[0].astype(np.int64).sum(axis=(2, 3), keepdims=True)
            val = (s.astype(np.float32) - np.float32(i[2]) * area) * (
                np.float32(i[1]) / np.float32(i[3]) / np.float32(area))
            y = saturate(np.rint(val) + int(i[4]), i[4].dtype)
        else:
            raise SystemExit('reference_forward.py: operator %s is not covered' % op)
        v[node.output[0]] = y
    return v[model.graph.output[0].name]


def main():
    path, outdir, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model = onnx.load(path)
    inp = model.graph.input[0]
    shape = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
    x = np.random.default_rng(seed).normal(0, 1, shape).astype(np.float32)
    y = run(model, x).astype(np.float32)
    data = os.path.join(outdir, 'test_data_set_0')
    os.makedirs(data, exist_ok=True)
    os.symlink(os.path.abspath(path), os.path.join(outdir, 'model.onnx'))
    with open(os.path.join(data, 'input_0.pb'), 'wb') as f:
        f.write(numpy_helper.from_array(x, inp.name).SerializeToString())
    with open(os.path.join(data, 'output_0.pb'), 'wb') as f:
        f.write(numpy_helper.from_array(y, model.graph.output[0].name).SerializeToString())


if __name__ == '__main__':
    main()
