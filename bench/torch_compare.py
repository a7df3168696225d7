#!/usr/bin/python3
"""rn50cl against PyTorch on the same machine, in one run: rn50cl's training-step and inference
images/s (from `cl_bench --only model`, or a cl_bench JSON given with --rn50cl-json), then the
same two figures for torchvision's resnet50 on PyTorch's CPU backend at the same batch, with
rn50cl's as a ratio of PyTorch's.

Usage (Debian's python3 has torch and torchvision):
    /usr/bin/python3 bench/torch_compare.py [--batch-size 128] [--cl-bench build/bench/cl_bench]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def rn50cl_figures(args):
    """images/s of rn50cl's training step and inference pass, from cl_bench's JSON."""
    path = args.rn50cl_json
    if not path:
        fd, path = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        cmd = [args.cl_bench, "--only", "model", "--batch-size", str(args.batch_size),
               "--repeats", str(args.steps), "--json", path]
        if args.device:
            cmd += ["--device", args.device]
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    with open(path) as f:
        run = json.load(f)["runs"][0]
    if not args.rn50cl_json:
        os.unlink(path)
    env, model = run["environment"], run["model"]
    return {
        "device": env["device"],
        "batch": env["batch"],
        "tuned": env["tuned_gemm"],
        "train": model["train_step"]["images_per_s"],
        "inference": model["inference"]["images_per_s"],
    }


def timed(fn, warmup, steps):
    """Median seconds of fn() over `steps` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def torch_figures(batch, warmup, steps):
    """images/s of torchvision resnet50 (10 classes, 32x32) training steps and inference."""
    import torch
    import torchvision

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(1)
    model = torchvision.models.resnet50(num_classes=10)
    # rn50cl's defaults: lr 0.1, momentum 0.9 (Nesterov), weight decay 5e-4
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        loss.item()

    def infer():
        with torch.no_grad():
            model(x).argmax(1)

    model.train()
    t_train = timed(train_step, warmup, steps)
    model.eval()
    t_inf = timed(infer, warmup, steps)
    return {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "train": batch / t_train,
        "inference": batch / t_inf,
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=5, help="timed steps (median), each side")
    p.add_argument("--warmup", type=int, default=2, help="untimed PyTorch steps first")
    p.add_argument("--cl-bench", default=os.path.join(here, "..", "build", "bench", "cl_bench"),
                   help="cl_bench binary to run for rn50cl's figures")
    p.add_argument("--rn50cl-json", help="use this cl_bench JSON instead of running cl_bench")
    p.add_argument("--device", help="cl_bench --device selection")
    args = p.parse_args()

    rn = rn50cl_figures(args)
    if rn["batch"] != args.batch_size:
        sys.exit(f"torch_compare: the cl_bench JSON is at batch {rn['batch']}, not "
                 f"{args.batch_size}; pass --batch-size {rn['batch']}.")
    print(f"timing PyTorch at batch {args.batch_size} ...", flush=True)
    pt = torch_figures(args.batch_size, args.warmup, args.steps)

    print()
    print(f"ResNet50, CIFAR-10 shapes (32x32, 10 classes), batch {args.batch_size}, "
          f"median of {args.steps} steps")
    print(f"rn50cl : {rn['device']} (OpenCL), GEMM parameters "
          f"{'tuned' if rn['tuned'] else 'CLBlast defaults'}")
    print(f"PyTorch: {pt['version']} CPU, {pt['threads']} threads "
          f"(torch.set_num_threads(os.cpu_count()))")
    print(f"{'images/s':<12} {'rn50cl':>10} {'PyTorch':>10} {'rn50cl/PyTorch':>16}")
    for key, name in (("train", "training"), ("inference", "inference")):
        print(f"{name:<12} {rn[key]:>10.1f} {pt[key]:>10.1f} {rn[key] / pt[key]:>16.2f}")


if __name__ == "__main__":
    main()
