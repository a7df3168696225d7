#!/usr/bin/env python3
"""PyTorch on a CUDA GPU, the baseline for cl_bench's section 4 on the same GPU through OpenCL:
torchvision resnet50 (10 classes) on 32x32 images, batch 128, a training step (SGD Nesterov,
label smoothing 0.1) and an eval-mode inference pass, in strict fp32 (TF32 off, as OpenCL's
fp32) and with PyTorch's defaults (cuDNN may use TF32). Usage: torch_cuda.py [REPEATS]"""
import sys
import time

import torch
import torchvision


def timed(fn, warm, reps):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / reps


def run(tf32, reps):
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(1)
    m = torchvision.models.resnet50(num_classes=10).to(dev)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.randn(128, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (128,), device=dev)
    torch.cuda.reset_peak_memory_stats()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(m(x), y).backward()
        opt.step()

    m.train()
    ts = timed(step, 10, reps)
    mem = torch.cuda.max_memory_allocated() / 2**20
    m.eval()
    with torch.no_grad():
        ti = timed(lambda: m(x), 10, reps)
    print("torch %s, %s, tf32=%s: training %.2f ms/step = %.0f images/s, inference %.2f ms = "
          "%.0f images/s, peak allocated %.0f MiB" % (torch.__version__,
                                                       torch.cuda.get_device_name(), tf32,
                                                       ts * 1e3, 128 / ts, ti * 1e3, 128 / ti, mem))


if __name__ == "__main__":
    if not torch.cuda.is_available():
        sys.exit("torch_cuda.py: PyTorch sees no CUDA GPU here; run it where `nvidia-smi` lists "
                 "the GPU cl_bench measured, with a CUDA build of PyTorch.")
    torch.backends.cudnn.benchmark = True
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    for tf32 in (False, True):
        run(tf32, n)
