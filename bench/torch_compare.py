#!/usr/bin/python3
"""rn50cl against PyTorch and the host BLAS on the same machine, in one run: training-step and
inference images/s and peak resident memory of rn50cl (`cl_bench --only model`) and of
torchvision's resnet50 on PyTorch's CPU backend at the same batch, and every GEMM shape of an
rn50cl training step timed in rn50cl (`cl_bench --only gemm`) and in the BLAS numpy calls.

Usage (Debian's python3 has torch, torchvision and numpy):
    /usr/bin/python3 bench/torch_compare.py [--batch-size 128] [--only all|model|gemm]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run_child(cmd, env=None, show=False):
    """Runs cmd to completion and gives its peak resident set in MiB: wait4's ru_maxrss is the
    high-water mark of that one process, not of this script or of its other children."""
    if show:
        print("running:", " ".join(cmd), flush=True)
    p = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        sys.exit(f"torch_compare: {cmd[0]} {cmd[1]} ended with status {p.returncode}")
    return usage.ru_maxrss / 1024


def in_child(kind, request, env=None):
    """This script's `kind` part (see CHILD_PARTS) in a process of its own, so that its memory
    is measured alone and its libraries (a --blas-lib) are loaded fresh; its answer and peak."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, kind + ".json")
        with open(path, "w") as f:
            json.dump(request, f)
        peak = run_child([sys.executable, os.path.abspath(__file__), "--child", kind, path], env)
        with open(path) as f:
            answer = json.load(f)
    answer["process_peak_mib"] = peak
    return answer


def cl_bench_run(args, section):
    """cl_bench's JSON run holding `section` (from a run of `cl_bench --only section`, or from
    --rn50cl-json) and the peak RSS of that cl_bench process (None for a given JSON)."""
    peak = None
    if args.rn50cl_json:
        with open(args.rn50cl_json) as f:
            run = json.load(f)["runs"][0]
    else:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "cl_bench.json")
            cmd = [args.cl_bench, "--only", section, "--batch-size", str(args.batch_size),
                   "--repeats", str(args.steps), "--json", path]
            if args.device:
                cmd += ["--device", args.device]
            peak = run_child(cmd, show=True)
            with open(path) as f:
                run = json.load(f)["runs"][0]
    if section not in run:
        sys.exit(f"torch_compare: the cl_bench JSON has no '{section}' section.")
    if run["environment"]["batch"] != args.batch_size:
        sys.exit(f"torch_compare: the cl_bench JSON is at batch {run['environment']['batch']}, "
                 f"not {args.batch_size}; pass --batch-size {run['environment']['batch']}.")
    return run, peak


# ---- in the child processes ------------------------------------------------------------------

def status_mib(field):
    """A VmRSS/VmHWM-style line of /proc/self/status, in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return None


def reset_peak():
    """Sets VmHWM back to the current VmRSS (Linux 4.0+), as cl_bench does after its set-up, so
    that the next VmHWM covers what follows; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def times_of(fn, warmup, steps):
    """Seconds of each of `steps` calls of fn() after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def torch_part(req):
    """images/s of torchvision resnet50 (10 classes, 32x32) training steps and inference, and
    the peak RSS over the training steps (VmHWM reset after the set-up)."""
    import torch
    import torchvision

    batch, warmup, steps = req["batch"], req["warmup"], req["steps"]
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
    since_setup = reset_peak()
    t_train = statistics.median(times_of(train_step, warmup, steps))
    steps_peak = status_mib("VmHWM")
    model.eval()
    t_inf = statistics.median(times_of(infer, warmup, steps))
    return {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "train": batch / t_train,
        "inference": batch / t_inf,
        "steps_peak_mib": steps_peak,
        "peak_since": "set-up" if since_setup else "process start",
    }


def torch_inference_part(req):
    """The peak RSS of a process that only runs inference (as rn50cl eval does): torchvision
    resnet50 in eval() under no_grad, VmHWM over its passes, reset after the set-up."""
    import torch
    import torchvision

    batch, warmup, steps = req["batch"], req["warmup"], req["steps"]
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(1)
    model = torchvision.models.resnet50(num_classes=10).eval()
    x = torch.randn(batch, 3, 32, 32)

    def infer():
        with torch.no_grad():
            model(x).argmax(1)

    since_setup = reset_peak()
    times_of(infer, warmup, steps)
    return {"peak_mib": status_mib("VmHWM"),
            "peak_since": "set-up" if since_setup else "process start"}


def blas_name():
    """Which BLAS numpy's matmul really calls: the library mapped into this process (Debian
    picks libblas.so.3 by update-alternatives, so numpy.show_config() says only 'blas')."""
    import ctypes

    with open("/proc/self/maps") as f:
        paths = {p[5] for p in (line.split() for line in f) if len(p) >= 6}
    libs = sorted(p for p in paths if os.path.basename(p).startswith("libblas.so"))
    if not libs:
        return "no libblas.so mapped (numpy's own or a vendor BLAS)"
    lib = ctypes.CDLL(libs[0])
    if hasattr(lib, "openblas_get_config"):
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return (f"{lib.openblas_get_config().decode()}, kernels for "
                f"{lib.openblas_get_corename().decode()}, {lib.openblas_get_num_threads()} "
                f"threads ({libs[0]})")
    if os.path.basename(os.path.dirname(libs[0])) == "blas":
        return f"reference BLAS (netlib, Debian's libblas3), single-threaded ({libs[0]})"
    return f"unidentified BLAS ({libs[0]})"


def blas_part(req):
    """Seconds of numpy.matmul (the BLAS's sgemm) per GEMM shape: C (M×N) = op(A)·op(B) with
    A and B stored as rn50cl stores them and transposed as views, so the BLAS gets the same
    transposition flags; float32, moderate constants as cl_bench uses."""
    import numpy as np

    rows = []
    for s in req["shapes"]:
        m, n, k = s["M"], s["N"], s["K"]
        a = np.full((k, m) if s["ta"] else (m, k), 0.5, np.float32)
        b = np.full((n, k) if s["tb"] else (k, n), 0.25, np.float32)
        a, b = (a.T if s["ta"] else a), (b.T if s["tb"] else b)
        c = np.empty((m, n), np.float32)
        t = times_of(lambda: np.matmul(a, b, out=c), req["warmup"], req["steps"])
        rows.append({"median": statistics.median(t)})
    return {"blas": blas_name(), "numpy": np.__version__, "shapes": rows}


CHILD_PARTS = {"torch": torch_part, "torch_inference": torch_inference_part, "blas": blas_part}


# ---- the parent: run both sides, print ---------------------------------------------------------

def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def mib(v):
    return f"{v:.0f}" if v else "-"


def measure_model(args):
    run, cl_peak = cl_bench_run(args, "model")
    print(f"timing PyTorch at batch {args.batch_size} ...", flush=True)
    req = {"batch": args.batch_size, "warmup": args.warmup, "steps": args.steps}
    pt = in_child("torch", req)
    pt["inference_only"] = in_child("torch_inference", req)
    return run, cl_peak, pt


def print_model(args, measured):
    run, cl_peak, pt = measured
    env, model = run["environment"], run["model"]
    memory = model.get("memory", {})
    rn_steps = memory.get("measured", {}).get("peak_mib")

    print(f"ResNet50, CIFAR-10 shapes (32x32, 10 classes), batch {args.batch_size}, "
          f"median of {args.steps} steps")
    print(f"rn50cl : {env['device']} (OpenCL), GEMM parameters "
          f"{'tuned' if env['tuned_gemm'] else 'CLBlast defaults'}")
    print(f"PyTorch: {pt['version']} CPU, {pt['threads']} threads "
          f"(torch.set_num_threads(os.cpu_count()))")
    print(f"{'images/s':<42} {'rn50cl':>8} {'PyTorch':>8} {'rn50cl/PyTorch':>15}")
    for name, rn, p in (("training", model["train_step"]["images_per_s"], pt["train"]),
                        ("inference", model["inference"]["images_per_s"], pt["inference"])):
        print(f"{name:<42} {rn:>8.1f} {p:>8.1f} {ratio(rn, p):>15}")
    print(f"{'peak RSS, MiB':<42} {'rn50cl':>8} {'PyTorch':>8} {'rn50cl/PyTorch':>15}")
    print(f"{'training at the batch (VmHWM after set-up)':<42} {mib(rn_steps):>8} "
          f"{mib(pt['steps_peak_mib']):>8} {ratio(rn_steps, pt['steps_peak_mib']):>15}")
    # cl_bench resets VmHWM between its phases, which lowers ru_maxrss too; it says its own peak
    if cl_peak and model.get("process_peak_mib"):
        cl_peak = max(cl_peak, model["process_peak_mib"])
    rn_inf, pt_inf = model.get("inference_only", {}).get("peak_mib"), pt["inference_only"]
    print(f"{'inference only (VmHWM over set-up, passes)':<42} {mib(rn_inf):>8} "
          f"{mib(pt_inf['peak_mib']):>8} {ratio(rn_inf, pt_inf['peak_mib']):>15}")
    print(f"{'whole process (wait4 ru_maxrss)':<42} {mib(cl_peak):>8} "
          f"{mib(pt['process_peak_mib']):>8} {ratio(cl_peak, pt['process_peak_mib']):>15}")
    if not rn_steps:
        print("  (this cl_bench stores no model.memory.measured.peak_mib: rn50cl's training "
              "figure is missing)")
    elif memory.get("peaks_since") != "phase" or pt["peak_since"] != "set-up":
        print("  (VmHWM could not be reset here: a training figure is the peak since its "
              "process began)")
    if cl_peak:
        print("  whole process: rn50cl's is all of `cl_bench --only model` (its section 1 "
              "included; the larger of ru_maxrss and cl_bench's own process_peak_mib, as its "
              "VmHWM resets lower ru_maxrss), PyTorch's the child that imported torch, trained "
              "and ran inference")


def gemm_label(key):
    """cl_bench's row key is '<index> <layer> <form>'; the index only keeps the keys apart."""
    return key.split(" ", 1)[1] if key[:2].isdigit() else key


def blas_env(args):
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", str(os.cpu_count()))
    if args.blas_lib:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (args.blas_lib, env.get("LD_LIBRARY_PATH")) if p)
    return env


def measure_gemm(args):
    run, _ = cl_bench_run(args, "gemm")
    rows = run["gemm"]["training_shapes"]
    if any("ta" not in r for r in rows.values()):
        sys.exit("torch_compare: this cl_bench JSON gives no 'ta'/'tb' per GEMM shape; rebuild "
                 "cl_bench.")
    shapes = [{k: r[k] for k in ("ta", "tb", "M", "N", "K")} for r in rows.values()]
    print(f"timing the same {len(shapes)} GEMM shapes with the host BLAS ...", flush=True)
    bl = in_child("blas", {"shapes": shapes, "warmup": 1, "steps": args.steps}, blas_env(args))
    return run, bl


def print_gemm(args, measured):
    run, bl = measured
    rows = run["gemm"]["training_shapes"]
    print(f"GEMMs of one training step at batch {args.batch_size}, GFLOP/s of the median of "
          f"{args.steps} runs (n/st: calls per step)")
    print(f"rn50cl: rn_sgemm on {run['environment']['device']} (OpenCL)")
    print(f"BLAS  : numpy {bl['numpy']} matmul -> {bl['blas']}")
    if "kernels for Prescott" in bl["blas"]:
        print("  (OpenBLAS did not recognise this CPU and fell back to its SSE3 kernels: name the "
              "CPU's with OPENBLAS_CORETYPE, e.g. SkylakeX or Haswell)")
    elif "netlib" in bl["blas"]:
        print("  (the reference BLAS is a plain loop nest; --blas-lib compares with OpenBLAS, "
              "see bench/README.md)")
    print(f"{'GEMM':<30} {'op':>2} {'M':>5} {'N':>5} {'K':>5} {'n/st':>4} {'rn50cl':>8} "
          f"{'BLAS':>8} {'rn50cl/BLAS':>11} back-end")
    flops = rn_s = bl_s = 0.0
    for (key, r), b in zip(rows.items(), bl["shapes"]):
        f = 2.0 * r["M"] * r["N"] * r["K"]
        rn_t, bl_t = r["ms"]["median"] * 1e-3, b["median"]
        op = ("T" if r["ta"] else "N") + ("T" if r["tb"] else "N")
        print(f"{gemm_label(key):<30} {op:>2} {r['M']:>5} {r['N']:>5} {r['K']:>5} "
              f"{r['count_per_step']:>4} {f / rn_t * 1e-9:>8.1f} {f / bl_t * 1e-9:>8.1f} "
              f"{ratio(bl_t, rn_t):>11} {r.get('backend', '')}"
              f"{', gathered' if r.get('gathered') else ''}")
        n = r["count_per_step"]
        flops, rn_s, bl_s = flops + n * f, rn_s + n * rn_t, bl_s + n * bl_t
    print(f"one training step's GEMMs, time-weighted (sum count*FLOPs / sum count*time), "
          f"{flops * 1e-9:.2f} GFLOP:")
    print(f"  rn50cl {rn_s * 1e3:9.1f} ms {flops / rn_s * 1e-9:8.1f} GFLOP/s")
    print(f"  BLAS   {bl_s * 1e3:9.1f} ms {flops / bl_s * 1e-9:8.1f} GFLOP/s")
    print(f"  rn50cl/BLAS {bl_s / rn_s:.2f}")
    if any(r.get("gathered") for r in rows.values()):
        print("  (gathered: a conv's forward that reads its im2col columns from the input inside "
              "the product, as the step runs it; the BLAS multiplies columns already written)")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=("all", "model", "gemm"), default="all",
                   help="model: images/s and peak RSS; gemm: per-shape GEMMs against the BLAS")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=5,
                   help="timed steps or GEMM runs (median), each side")
    p.add_argument("--warmup", type=int, default=2, help="untimed PyTorch steps first")
    p.add_argument("--cl-bench", default=os.path.join(here, "..", "build", "bench", "cl_bench"),
                   help="cl_bench binary to run for rn50cl's figures")
    p.add_argument("--rn50cl-json", help="use this cl_bench JSON instead of running cl_bench")
    p.add_argument("--device", help="cl_bench --device selection")
    p.add_argument("--blas-lib", help="a folder with another libblas.so.3 (e.g. OpenBLAS's) "
                   "for numpy in the GEMM part, put first on LD_LIBRARY_PATH")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        kind, path = args.child
        with open(path) as f:
            answer = CHILD_PARTS[kind](json.load(f))
        with open(path, "w") as f:
            json.dump(answer, f)
        return
    parts = {"model": (measure_model, print_model), "gemm": (measure_gemm, print_gemm)}
    names = ("model", "gemm") if args.only == "all" else (args.only,)
    # every measurement first, so that cl_bench's own output does not split the summaries
    measured = [(parts[n][1], parts[n][0](args)) for n in names]
    for show, m in measured:
        print()
        show(args, m)


if __name__ == "__main__":
    main()
