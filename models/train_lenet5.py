"""Train LeNet-5 on Fashion-MNIST and export it to ONNX: the bundled model.

    /usr/bin/python3 models/train_lenet5.py [OUT.onnx]

Needs Debian's python3-torch and dataset-fashion-mnist (the IDX files in
/usr/share/datasets/fashion-mnist).  The seed is fixed; the build does not
run this, the resulting models/lenet5-fashion.onnx is committed.  Input:
[1,1,28,28] float, pixels / 255 (onnxq eval's `unit` preset, the IDX
default); output: 10 class scores (logits).
"""
import gzip
import struct
import sys

import numpy as np
import torch
from torch import nn

DATA = '/usr/share/datasets/fashion-mnist'


def idx(path):
    with gzip.open(path, 'rb') as f:
        magic, = struct.unpack('>I', f.read(4))
        dims = struct.unpack('>' + 'I' * (magic & 0xff), f.read(4 * (magic & 0xff)))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)


class LeNet5(nn.Module):
    """LeCun et al. 1998, with ReLU and max pooling: conv 5x5 (6, padded),
    pool, conv 5x5 (16), pool, 120, 84, 10."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else 'models/lenet5-fashion.onnx'
    torch.manual_seed(2026)
    np.random.seed(2026)
    torch.set_num_threads(2)
    x = torch.tensor(idx(DATA + '/train-images-idx3-ubyte.gz'), dtype=torch.float32)[:, None] / 255
    y = torch.tensor(idx(DATA + '/train-labels-idx1-ubyte.gz'), dtype=torch.long)
    tx = torch.tensor(idx(DATA + '/t10k-images-idx3-ubyte.gz'), dtype=torch.float32)[:, None] / 255
    ty = torch.tensor(idx(DATA + '/t10k-labels-idx1-ubyte.gz'), dtype=torch.long)
    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    epochs = 12
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            b = order[i:i + 128]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[b]), y[b])
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(tx).argmax(1) == ty).float().mean().item()
        print('epoch %d: test accuracy %.2f %%' % (epoch + 1, 100 * acc), flush=True)
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), out, input_names=['image'],
                      output_names=['logits'], opset_version=13, do_constant_folding=True)
    print('wrote %s: test accuracy %.2f %% (torch)' % (out, 100 * acc))


if __name__ == '__main__':
    main()
