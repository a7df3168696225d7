#!/usr/bin/env python3
"""Writes and checks the weights files of cli_weights_formats.sh with the real PyTorch and a
hand-made MindSpore checkpoint (protobuf encoded here from checkpoint.proto's schema, no mindspore
package needed).

  weights_formats.py make DIR DATA N     .pth files (plain, 10-class, wrapped with odd storages),
                                         MindSpore .ckpt files with both ResNet naming schemes, the
                                         malformed files, and torchvision's logits on N test images
  weights_formats.py close OURS REF      logits within 1e-4 absolute + 1e-4 relative
  weights_formats.py same A B            two logits files bit for bit equal
  weights_formats.py roundtrip A B       float tensors of two safetensors bit for bit equal
  weights_formats.py msnames CKPT        rn50cl's .ckpt decodes to the tutorial's names, Float32
"""
import io
import struct
import sys
import zipfile

import numpy as np
import torch
import torchvision

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from torch_parity import images, load_st, report  # noqa: E402

OPTIMIZER = ["learning_rate", "global_step", "momentum"]


def perturbed(classes, seed):
    """A resnet50 whose batch-norms are not at their initial values, so every tensor matters."""
    torch.manual_seed(seed)
    m = torchvision.models.resnet50(num_classes=classes)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.weight.data = 1 + 0.1 * torch.randn_like(mod.weight)
            mod.bias.data = 0.1 * torch.randn_like(mod.bias)
            mod.running_mean = 0.1 * torch.randn_like(mod.running_mean)
            mod.running_var = 1 + 0.2 * torch.rand_like(mod.running_var)
            mod.num_batches_tracked.fill_(7)
    return m.eval()


def logits_of(sd, classes, x):
    m = torchvision.models.resnet50(num_classes=classes).eval()
    m.load_state_dict(sd)
    with torch.no_grad():
        return m(x).numpy()


def odd_storages(sd):
    """The same values held the ways a real checkpoint may hold them: a non-contiguous view, a
    storage offset, float16/bfloat16/float64 storages (values rounded first, so the reference
    sees exactly what rn50cl will), a Parameter; also returns the float32 reference dict."""
    ref, odd = dict(sd), dict(sd)
    w = sd["conv1.weight"]
    odd["conv1.weight"] = w.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    assert not odd["conv1.weight"].is_contiguous()
    w = sd["layer1.0.conv2.weight"]
    odd["layer1.0.conv2.weight"] = torch.cat([torch.zeros(7), w.flatten()])[7:].view(w.shape)
    for k, dt in [("bn1.running_var", torch.float16), ("layer4.2.bn3.weight", torch.bfloat16),
                  ("fc.bias", torch.float64)]:
        ref[k] = sd[k].to(dt).float()
        odd[k] = ref[k].to(dt)
    odd["fc.weight"] = torch.nn.Parameter(sd["fc.weight"].clone())
    return ref, odd


# ---- MindSpore checkpoint, encoded by hand ----

def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def ms_value(tag, dims, type_name, content):
    """One Checkpoint.value; a scalar has dims [0], as save_checkpoint writes it."""
    d = b"".join(varint(1 << 3) + varint(n) for n in (dims or (0,)))
    tensor = d + field(2, type_name.encode()) + field(3, content)
    return field(1, field(1, tag.encode()) + field(2, tensor))


def ms_name(tv, models_repo):
    """torchvision -> the tutorial's names, or the mindspore/models ResNet's (models_repo)."""
    p = tv.split(".")
    bn = len(p) >= 2 and ((p[-2].startswith("bn")) or (len(p) >= 3 and p[-3:-1] == ["downsample", "1"]))
    for i in range(len(p) - 1):
        if p[i] == "downsample":
            p[i] = "down_sample_layer" if models_repo else "down_sample"
        elif p[i].startswith("bn") and not models_repo:
            p[i] = "norm" if i == 0 else "norm" + p[i][2:]
    if models_repo and p[0] == "fc":
        p[0] = "end_point"
    if bn:
        p[-1] = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
                 "running_var": "moving_variance"}[p[-1]]
    return ".".join(p)


def write_ms(path, sd, models_repo):
    out = []
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        a = v.numpy().astype(np.float32)
        name = ms_name(k, models_repo)
        if k == "layer4.0.conv2.weight":  # in slices, as save_checkpoint writes large parameters
            out += [ms_value(name, a.shape, "Float32", part.tobytes()) for part in np.array_split(a, 3)]
        else:
            out.append(ms_value(name, a.shape, "Float32", a.tobytes()))
        if "conv" in k:
            out.append(ms_value("moments." + name, a.shape, "Float32", np.zeros_like(a).tobytes()))
    out.append(ms_value("learning_rate", (), "Float32", np.float32(0.01).tobytes()))
    out.append(ms_value("global_step", (1,), "Int32", np.int32(1234).tobytes()))
    open(path, "wb").write(b"".join(out))


def write_st(path, sd):
    hdr, body = {}, b""
    for k, v in sd.items():
        a = v.numpy()
        dt = "I64" if a.dtype == np.int64 else "F32"
        hdr[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [len(body), len(body) + a.nbytes]}
        body += a.astype(np.int64 if dt == "I64" else np.float32).tobytes()
    import json
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + body)


# ---- malformed files ----

def stored_zip(path, entries, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compress) as z:
        for name, data in entries:
            z.writestr(name, data)


def write_bad(d, marker):
    cmd = ("touch " + marker).encode()
    # os.system(cmd) as pickle protocol 2 spells it by hand; a real unpickler would run it.
    evil = b"\x80\x02cos\nsystem\nq\x00X" + struct.pack("<I", len(cmd)) + cmd + b"q\x01\x85q\x02Rq\x03."
    stored_zip(d + "/os_system.pth", [("archive/data.pkl", evil), ("archive/version", b"3\n")])
    torch.save(torchvision.models.resnet18(), d + "/whole_module.pth")
    small = {"conv1.weight": torch.zeros(64, 3, 3, 3)}
    torch.save(small, d + "/legacy.pth", _use_new_zipfile_serialization=False)
    buf = io.BytesIO()
    torch.save(small, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        stored_zip(d + "/deflated.pth", [(n, z.read(n)) for n in z.namelist()], zipfile.ZIP_DEFLATED)
    sd = perturbed(10, 3).state_dict()
    sd["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(sd, d + "/wrong_shape.pth")
    open(d + "/ms_badlen.ckpt", "wb").write(b"\x0a\xff\xff\x03" + b"\x0a\x03abc")
    open(d + "/ms_badvarint.ckpt", "wb").write(b"\x0a" + b"\xff" * 11)
    open(d + "/ms_baddims.ckpt", "wb").write(ms_value("fc.bias", (10,), "Float32", bytes(36)))


def make(d, data, n):
    x, _ = images(data + "/test_batch.bin", n)
    m1000, m10 = perturbed(1000, 1), perturbed(10, 2)
    torch.save(m1000.state_dict(), d + "/rn1000.pth")
    np.save(d + "/ref_rn1000.npy", logits_of(m1000.state_dict(), 1000, x))
    sd10 = m10.state_dict()
    torch.save(sd10, d + "/rn10.pth")
    np.save(d + "/ref_rn10.npy", logits_of(sd10, 10, x))
    ref, odd = odd_storages(sd10)
    torch.save({"epoch": 3, "best_acc": 0.5, "state_dict": {"module." + k: v for k, v in odd.items()},
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0, 1]}]}},
               d + "/wrapped.pth")
    np.save(d + "/ref_wrapped.npy", logits_of(ref, 10, x))
    write_st(d + "/rn10.safetensors", sd10)
    write_ms(d + "/tutorial.ckpt", sd10, False)
    write_ms(d + "/models_repo.ckpt", sd10, True)
    write_bad(d, d + "/PWNED")


def roundtrip(a, b):
    x, y = load_st(a), load_st(b)
    floats = [k for k in x if x[k].dtype == torch.float32]
    same = all(k in y and y[k].dtype == torch.float32 and torch.equal(x[k], y[k]) for k in floats)
    print("%d float tensors bit-exact after the round trip: %s" % (len(floats), same))
    return same and len(floats) == 267


def msnames(path):
    b, p, names = open(path, "rb").read(), 0, {}

    def rv(b, p):
        v, s = 0, 0
        while True:
            v |= (b[p] & 0x7F) << s
            s += 7
            p += 1
            if not b[p - 1] & 0x80:
                return v, p

    def fields(b):
        p, out = 0, []
        while p < len(b):
            tag, p = rv(b, p)
            if tag & 7 == 0:
                v, p = rv(b, p)
                out.append((tag >> 3, v))
            else:
                n, p = rv(b, p)
                out.append((tag >> 3, b[p:p + n]))
                p += n
        return out

    for num, val in fields(b):
        assert num == 1
        f = dict(fields(val))
        t = fields(f[2])
        dims = [v for k, v in t if k == 1]
        typ = [v for k, v in t if k == 2][0].decode()
        content = [v for k, v in t if k == 3][0]
        assert typ == "Float32" and len(content) == 4 * int(np.prod(dims)), f[1]
        names[f[1].decode()] = dims
    want = {"conv1.weight": [64, 3, 7, 7], "norm.gamma": [64], "norm.moving_variance": [64],
            "layer1.0.norm3.beta": [256], "layer1.0.down_sample.0.weight": [256, 64, 1, 1],
            "layer4.2.norm2.moving_mean": [512], "fc.weight": [10, 2048], "fc.bias": [10]}
    ok = len(names) == 267 and all(names.get(k) == v for k, v in want.items()) and \
        not any("bn" in k or "running" in k or "num_batches" in k for k in names)
    print("%d MindSpore entries with the tutorial's names and Float32 data: %s" % (len(names), ok))
    return ok


if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "make":
        make(a[0], a[1], int(a[2]))
        good = True
    elif cmd == "close":
        good = report("logits vs torchvision (" + a[1].rsplit("/", 1)[-1] + ")",
                      torch.from_numpy(np.load(a[0])), torch.from_numpy(np.load(a[1])), 1e-4, 1e-4)
    elif cmd == "same":
        good = np.array_equal(np.load(a[0]), np.load(a[1]))
        print("logits bit-exact equal: %s" % good)
    elif cmd == "roundtrip":
        good = roundtrip(a[0], a[1])
    else:
        good = msnames(a[0])
    sys.exit(0 if good else 1)
