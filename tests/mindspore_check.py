#!/usr/bin/env python3
"""rn50cl against real MindSpore (the `mindspore` wheel; scripts/install-deps.sh --with-mindspore),
on the ResNet50 of MindSpore's "ResNet50 image classification" tutorial, same parameter names.

  mindspore_check.py save CKPT DATA N OUT_DIR
      builds the tutorial's network (10 classes, batch-norms perturbed), save_checkpoint()s it to
      CKPT, and writes MindSpore's eval-mode logits on the first N test images: OUT_DIR/ms_same.npy
      with the tutorial's pad_mode='same', OUT_DIR/ms_sym.npy with the same weights in a variant
      padded symmetrically (PyTorch's rule, which rn50cl follows).
  mindspore_check.py load CKPT DATA N REF.npy
      load_checkpoint + load_param_into_net of CKPT (written by rn50cl) into the symmetric variant:
      every parameter must load, and its logits must equal REF bit for bit.
  mindspore_check.py close OURS REF
      logits within 1e-4 absolute + 1e-4 relative (prints the largest difference).
  mindspore_check.py diff OURS REF
      only prints the largest difference."""
import sys

import numpy as np
import mindspore as ms
from mindspore import nn, ops

MEAN = np.array([0.4914, 0.4822, 0.4465]).reshape(1, 3, 1, 1)
STD = np.array([0.2023, 0.1994, 0.2010]).reshape(1, 3, 1, 1)


def images(path, n):
    raw = np.frombuffer(open(path, "rb").read(), np.uint8).reshape(-1, 3073)[:n]
    x = raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float64) / 255.0
    return ms.Tensor(((x - MEAN) / STD).astype(np.float32))


def conv(cin, cout, k, stride, same):
    if same:
        return nn.Conv2d(cin, cout, k, stride=stride, pad_mode="same")
    return nn.Conv2d(cin, cout, k, stride=stride, pad_mode="pad", padding=k // 2)


class ResidualBlock(nn.Cell):
    expansion = 4

    def __init__(self, cin, ch, stride, down_sample, same):
        super().__init__()
        self.conv1 = conv(cin, ch, 1, 1, same)
        self.norm1 = nn.BatchNorm2d(ch)
        self.conv2 = conv(ch, ch, 3, stride, same)
        self.norm2 = nn.BatchNorm2d(ch)
        self.conv3 = conv(ch, ch * 4, 1, 1, same)
        self.norm3 = nn.BatchNorm2d(ch * 4)
        self.relu = nn.ReLU()
        self.down_sample = down_sample

    def construct(self, x):
        identity = x
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        if self.down_sample is not None:
            identity = self.down_sample(x)
        return self.relu(out + identity)


def make_layer(cin, ch, blocks, stride, same):
    down = None
    if stride != 1 or cin != ch * 4:
        down = nn.SequentialCell([conv(cin, ch * 4, 1, stride, same), nn.BatchNorm2d(ch * 4)])
    layers = [ResidualBlock(cin, ch, stride, down, same)]
    layers += [ResidualBlock(ch * 4, ch, 1, None, same) for _ in range(1, blocks)]
    return nn.SequentialCell(layers)


class ResNet(nn.Cell):
    def __init__(self, classes, same):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv1 = conv(3, 64, 7, 2, same)
        self.norm = nn.BatchNorm2d(64)
        self.max_pool = (nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="same") if same else
                         nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="pad", padding=1))
        self.layer1 = make_layer(64, 64, 3, 1, same)
        self.layer2 = make_layer(256, 128, 4, 2, same)
        self.layer3 = make_layer(512, 256, 6, 2, same)
        self.layer4 = make_layer(1024, 512, 3, 2, same)
        self.fc = nn.Dense(2048, classes)

    def construct(self, x):
        x = self.max_pool(self.relu(self.norm(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(ops.mean(x, (2, 3)))


def logits(net, x):
    net.set_train(False)
    return net(x).asnumpy()


def save(ckpt, data, n, out):
    ms.set_seed(1)
    rng = np.random.default_rng(1)
    net = ResNet(10, True)
    for p in net.get_parameters():  # batch-norms away from their initial values
        if p.name.endswith(("gamma", "moving_variance")):
            p.set_data(ms.Tensor((1 + 0.2 * rng.random(p.shape)).astype(np.float32)))
        elif p.name.endswith(("beta", "moving_mean")):
            p.set_data(ms.Tensor((0.1 * rng.standard_normal(p.shape)).astype(np.float32)))
    ms.save_checkpoint(net, ckpt)
    x = images(data + "/test_batch.bin", n)
    np.save(out + "/ms_same.npy", logits(net, x))
    sym = ResNet(10, False)
    ms.load_param_into_net(sym, ms.load_checkpoint(ckpt), strict_load=True)
    np.save(out + "/ms_sym.npy", logits(sym, x))
    return True


def load(ckpt, data, n, ref):
    net = ResNet(10, False)
    not_loaded, _ = ms.load_param_into_net(net, ms.load_checkpoint(ckpt), strict_load=True)
    got = logits(net, images(data + "/test_batch.bin", n))
    same = np.array_equal(got, np.load(ref))
    print("MindSpore loads rn50cl's .ckpt: %d parameters not loaded, logits bit-exact: %s"
          % (len(not_loaded), same))
    return not not_loaded and same


def close(ours, ref):
    a, b = np.load(ours), np.load(ref)
    err = np.abs(a - b)
    ok = bool((err <= 1e-4 + 1e-4 * np.abs(b)).all())
    print("%-40s max|diff| %.3g (atol 1e-4 rtol 1e-4) %s" % (ref.rsplit("/", 1)[-1], err.max(),
                                                            "ok" if ok else "FAIL"))
    return ok


if __name__ == "__main__":
    ms.set_context(mode=ms.PYNATIVE_MODE, device_target="CPU")
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "save":
        good = save(a[0], a[1], int(a[2]), a[3])
    elif cmd == "load":
        good = load(a[0], a[1], int(a[2]), a[3])
    elif cmd == "close":
        good = close(a[0], a[1])
    else:
        d = np.abs(np.load(a[0]) - np.load(a[1])).max()
        print("%-40s max|diff| %.3g (not compared)" % (a[1].rsplit("/", 1)[-1], d))
        good = True
    sys.exit(0 if good else 1)
