#!/usr/bin/env python3
"""Checks that rn50cl and PyTorch compute the same function on the same weights.

  torch_parity.py logits CKPT DATA_DIR LOGITS.npy
      torchvision resnet50 in eval mode, loaded from rn50cl's checkpoint, must give rn50cl's logits.
  torch_parity.py step CKPT_BEFORE CKPT_AFTER DATA_DIR BATCH LR MOMENTUM WD NESTEROV
      one PyTorch SGD step (train mode, first BATCH training images, no augmentation) from
      CKPT_BEFORE must give CKPT_AFTER's weights, running statistics and momentum buffers.
A checkpoint whose metadata records "padding": "same" (CKPT_AFTER's, for a step) gets MindSpore's
pad_mode='same' in PyTorch: each conv and the max-pool padded explicitly with F.pad.
Reads safetensors with its own few lines (no extra package needed)."""
import json
import struct
import sys

import numpy as np
import torch
import torchvision

MEAN = np.array([0.4914, 0.4822, 0.4465]).reshape(1, 3, 1, 1)
STD = np.array([0.2023, 0.1994, 0.2010]).reshape(1, 3, 1, 1)
DT = {"F32": np.float32, "I64": np.int64}


def header(path):
    b = open(path, "rb").read()
    n, = struct.unpack("<Q", b[:8])
    return json.loads(b[8:8 + n]), b[8 + n:]


def padding_of(path):
    return header(path)[0].get("__metadata__", {}).get("padding", "symmetric")


def load_st(path):
    hdr, body = header(path)
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(body[s:e], DT[v["dtype"]]).reshape(v["shape"]).copy())
    return out


def images(path, n):
    raw = np.frombuffer(open(path, "rb").read(), np.uint8).reshape(-1, 3073)[:n]
    x = raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float64) / 255.0
    return torch.from_numpy(((x - MEAN) / STD).astype(np.float32)), torch.from_numpy(raw[:, 0].astype(np.int64))


class Same(torch.nn.Module):
    """MindSpore's pad_mode='same' around a PyTorch conv or max-pool with its padding removed: per
    axis out = ceil(n/s) and a total padding of max((out - 1)*s + k - n, 0), its smaller half
    before the image (zeros for a conv, -inf for the max-pool)."""

    def __init__(self, layer, fill):
        super().__init__()
        self.layer, self.fill = layer, fill
        pair = lambda v: v if isinstance(v, tuple) else (v, v)
        self.k, self.s = pair(layer.kernel_size), pair(layer.stride)
        layer.padding = (0, 0) if isinstance(layer, torch.nn.Conv2d) else 0

    def forward(self, x):
        pads = []
        for n, k, s in ((x.shape[3], self.k[1], self.s[1]), (x.shape[2], self.k[0], self.s[0])):
            t = max((-(-n // s) - 1) * s + k - n, 0)
            pads += [t // 2, t - t // 2]  # F.pad: left, right, then top, bottom
        return self.layer(torch.nn.functional.pad(x, pads, value=self.fill))


def model_from(sd, padding="symmetric"):
    m = torchvision.models.resnet50(num_classes=sd["fc.weight"].shape[0])
    m.load_state_dict({k: v for k, v in sd.items() if not k.startswith("momentum.")}, strict=True)
    if padding == "same":
        for name, mod in list(m.named_modules()):
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.MaxPool2d)):
                parent, _, leaf = name.rpartition(".")
                fill = float("-inf") if isinstance(mod, torch.nn.MaxPool2d) else 0.0
                setattr(m.get_submodule(parent) if parent else m, leaf, Same(mod, fill))
    return m


def state(m):
    """state_dict under torchvision's names (Same wrappers add a .layer)."""
    return {k.replace(".layer.", "."): v for k, v in m.state_dict().items()}


def report(name, got, want, atol, rtol):
    err = (got - want).abs()
    lim = atol + rtol * want.abs()
    ok = bool((err <= lim).all())
    print("%-48s max|diff| %.3g  (atol %.1g rtol %.1g) %s" % (name, err.max().item(), atol, rtol, "ok" if ok else "FAIL"))
    return ok


def logits(ckpt, data, npy):
    m = model_from(load_st(ckpt), padding_of(ckpt)).eval()
    ours = torch.from_numpy(np.load(npy))
    x, _ = images(data + "/test_batch.bin", ours.shape[0])
    with torch.no_grad():
        ref = m(x)
    return report("eval logits vs torchvision (%s padding)" % padding_of(ckpt), ours, ref, 1e-4, 1e-4)


def torch_step(sd0, padding, x, y, dtype, lr, mom, wd, nesterov, smoothing, bn_decay):
    """bn_decay False: the usual two parameter groups, no weight decay on the 1-D tensors (BN
    weights and biases, fc.bias)."""
    m = model_from(sd0, padding).train().to(dtype)
    ps = list(m.parameters())
    groups = [{"params": ps}] if bn_decay else [
        {"params": [p for p in ps if p.dim() > 1]},
        {"params": [p for p in ps if p.dim() == 1], "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=lr, momentum=mom, weight_decay=wd, nesterov=nesterov)
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(m(x.to(dtype)), y, label_smoothing=smoothing)
    loss.backward()
    opt.step()
    out = {k: v.double() for k, v in state(m).items()}
    for k, p in m.named_parameters():
        out["momentum." + k.replace(".layer.", ".")] = opt.state[p]["momentum_buffer"].double()
    return out, loss.item()


def step(before, after, data, batch, lr, mom, wd, nesterov, smoothing, bn_decay):
    """The yardstick is PyTorch in float64. Through 53 layers of batch-norm over few values the
    float32 step is chaotic on some tensors (a ReLU mask flips; PyTorch's own float32 step is up
    to ~20 % off on a few tensors, measured), so the check is relative to PyTorch-float32's own
    error: the whole update's L2 error must be within twice PyTorch-float32's (or 1e-3), and at
    least 95 % of tensors within three times theirs (or 1e-3). Running statistics and counters
    are compared directly."""
    sd0, sd1 = load_st(before), load_st(after)
    x, y = images(data + "/data_batch_1.bin", batch)
    pad = padding_of(after)
    hp = (lr, mom, wd, nesterov, smoothing, bn_decay)
    ref, loss = torch_step(sd0, pad, x, y, torch.float64, *hp)
    t32, _ = torch_step(sd0, pad, x, y, torch.float32, *hp)
    ok, n, close, sq_o, sq_t, sq_r, worst_run = True, 0, 0, 0.0, 0.0, 0.0, 0.0
    for k, v in sd1.items():
        if k.endswith("num_batches_tracked"):
            ok &= int(v) == int(ref[k])
            continue
        base = torch.zeros_like(ref[k]) if k.startswith("momentum.") else sd0[k].double()
        d_ref = ref[k] - base
        if "running" in k:
            worst_run = max(worst_run, (v.double() - ref[k]).abs().max().item() / (ref[k].abs().max().item() + 1e-30))
            continue
        e_o, e_t = (v.double() - base) - d_ref, (t32[k] - base) - d_ref
        sq_o, sq_t, sq_r = sq_o + e_o.pow(2).sum().item(), sq_t + e_t.pow(2).sum().item(), sq_r + d_ref.pow(2).sum().item()
        scale = d_ref.abs().max().item() + 1e-30
        n += 1
        close += e_o.abs().max().item() / scale <= max(3 * e_t.abs().max().item() / scale, 1e-3)
    g_o, g_t = (sq_o / sq_r) ** 0.5, (sq_t / sq_r) ** 0.5
    good = g_o <= max(2 * g_t, 1e-3) and close >= 0.95 * n and worst_run < 1e-4
    print("one SGD step vs torch float64: update L2 error ours %.3g, torch-float32 %.3g; %d of %d tensors "
          "within 3x torch-float32's error; running stats worst %.2g; loss %.6f (%s padding) %s"
          % (g_o, g_t, close, n, worst_run, loss, pad, "ok" if good and ok else "FAIL"))
    return ok and good


if __name__ == "__main__":
    torch.manual_seed(0)
    if sys.argv[1] == "logits":
        good = logits(*sys.argv[2:5])
    else:
        a = sys.argv[2:]
        good = step(a[0], a[1], a[2], int(a[3]), float(a[4]), float(a[5]), float(a[6]), a[7] == "1",
                    float(a[8]), a[9] == "1")
    sys.exit(0 if good else 1)
