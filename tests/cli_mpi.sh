#!/usr/bin/env bash
# Data-parallel training under mpirun (2 ranks on this device, one PoCL thread each): a 2-rank run
# matches a 1-process run of the same global batch, `mpirun -np 1` is the plain run bit for bit, a
# 2-rank checkpoint loads in a 1-process eval, an interrupted 2-rank run resumes in 1 process, and a
# killed rank ends the job non-zero with its checkpoints intact. Exits 77 (ctest: skipped) when
# rn50cl was built without MPI or mpirun is missing.
set -u
BIN=${RN50CL_BIN:?RN50CL_BIN not set}
SRC=${RN50CL_SOURCE_DIR:?}
PY=${RN50CL_PYTHON:-python3}
if ! "$BIN" --version | grep -q "with MPI"; then echo "SKIP: rn50cl was built without MPI"; exit 77; fi
if ! command -v mpirun >/dev/null; then echo "SKIP: no mpirun (apt install openmpi-bin)"; exit 77; fi
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
test_tmpdir cli_mpi
py() { "$PY" - "$@"; }
# Process queries through /proc (a minimal image has no procps): the children of a pid, and
# whether a pid still runs (a zombie, state Z, has exited).
children() { local p; for p in /proc/[0-9]*; do [ "$(cut -d' ' -f4 "$p/stat" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"; done; }
running() { local s; s=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ "$s" != Z ]; }
# Two ranks share this machine's cores: one PoCL thread each. Open MPI refuses root without a flag.
export POCL_MAX_PTHREAD_COUNT=1
# Containers often forbid the cross-process reads of Open MPI's default single-copy transfers.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
MPI=(mpirun --oversubscribe)
if [ "$(id -u)" -eq 0 ]; then MPI+=(--allow-run-as-root); fi

# Every global batch of 8 is 4 images twice, the second copy labelled (label + 3) mod 10. Batch-norm
# statistics of [X X] are those of X, so a 1-process run normalising all 8 and two ranks normalising
# 4 each compute the same function of the weights (exactly, not approximately), while each rank's
# gradients differ from the other's (other labels): only their average matches the 1-process run.
"$PY" "$SRC/tests/make_cifar.py" "$T/base" 8 8 || { echo "cannot make data"; exit 1; }
py "$T/base" "$T/data" <<'P' || { echo "cannot make data"; exit 1; }
import os, shutil, sys
R, h = 3073, 4
src, dst = sys.argv[1], sys.argv[2]
b = open(src + "/data_batch_1.bin", "rb").read()
os.makedirs(dst)
with open(dst + "/data_batch_1.bin", "wb") as f:
    for k in range(0, len(b) // R, h):
        x = b[k * R:(k + h) * R]
        f.write(x)
        for i in range(h):
            f.write(bytes([(x[i * R] + 3) % 10]) + x[i * R + 1:(i + 1) * R])
for n in ("test_batch.bin", "batches.meta.txt"):
    shutil.copy(src + "/" + n, dst)
P
# (torchvision's init, plain cross-entropy and decay on every tensor: with a zero head the convs
# get no gradient in step 1, and the momentum compared below would be step 2's alone)
OLD=(--residual-gamma 0 --fc-init-scale 1 --label-smoothing 0 --bn-decay)
COMMON=(--data "$T/data" --no-augment --no-shuffle --batch-size 8 --epochs 1 --lr 0.001
        --schedule constant --warmup-epochs 0 --test-limit 8 "${OLD[@]}")

# 1. Two optimizer steps: 1 process, 2 ranks, and 1 rank under mpirun.
"$BIN" train "${COMMON[@]}" --max-steps 2 --out "$T/one" --log "$T/one.log" > "$T/one.out" 2>&1
check "1-process run exits 0" [ $? -eq 0 ]
"${MPI[@]}" -np 2 "$BIN" train "${COMMON[@]}" --max-steps 2 --out "$T/two" --log "$T/two.log" > "$T/two.out" 2>&1
rc=$?
check "2-rank run exits 0 (rc $rc: $(tail -c 600 "$T/two.out"))" [ $rc -eq 0 ]
check "2-rank run names both ranks' devices" grep -q "rank 1 on" "$T/two.out"
check "2-rank run reports the all-reduce" grep -q "gradient all-reduce: 94.1 MB per step" "$T/two.out"
check "only rank 0 prints progress (one epoch line)" [ "$(grep -c '^epoch   1 |' "$T/two.out")" -eq 1 ]
"${MPI[@]}" -np 1 "$BIN" train "${COMMON[@]}" --max-steps 2 --out "$T/np1" --log "$T/np1.log" > "$T/np1.out" 2>&1
check "mpirun -np 1 run exits 0" [ $? -eq 0 ]

# Tolerances (float32, measured here: losses 1e-7 relative, weights 1.2e-7, momentum 4e-5 absolute,
# running means 1.4e-6): per-step loss 1e-5 relative; per tensor, weights 1e-5 absolute, momentum
# 1e-4 + 2e-3·max|v|, running means 1e-4 absolute. Without the all-reduce the momentum would be
# off by the ranks' gradient difference, ~1e-2. Running variances are not compared: the unbiased
# variance each batch-norm folds into them is ·M/(M-1) of its own M values, which differs between
# 4 and 8 images (training never reads them).
cat > "$T/cmp.py" <<'P'
import array, json, struct, sys
def tensors(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        a = array.array("f" if v["dtype"] == "F32" else "q"); s, e = v["data_offsets"]
        a.frombytes(b[8 + n + s:8 + n + e]); out[k] = a
    return out
def losses(p):
    return [json.loads(l)["loss"] for l in open(p) if json.loads(l)["type"] == "step"]
exact = sys.argv[1] == "exact"
la, lb = losses(sys.argv[2]), losses(sys.argv[3])
ok = len(la) == len(lb) == 2 and all(abs(x - y) <= (0 if exact else 1e-5 * abs(x)) for x, y in zip(la, lb))
print("losses", la, lb)
a, b = tensors(sys.argv[4]), tensors(sys.argv[5])
worst = {}
for k in a:
    d = max(abs(x - y) for x, y in zip(a[k], b[k])) if len(a[k]) else 0
    big = max(abs(x) for x in a[k]) if len(a[k]) else 0
    kind = ("counter" if a[k].typecode == "q" else "running_var" if "running_var" in k else
            "running_mean" if "running_mean" in k else "momentum" if k.startswith("momentum.") else "weight")
    lim = 0 if exact else {"counter": 0, "running_var": float("inf"), "running_mean": 1e-4,
                           "momentum": 1e-4 + 2e-3 * big, "weight": 1e-5}[kind]
    if d > lim: ok = False; print("differs:", k, d, "limit", lim)
    if d > worst.get(kind, (-1,))[0]: worst[kind] = (d, k)
for kind, (d, k) in sorted(worst.items()): print("largest %s difference %.3g (%s)" % (kind, d, k))
sys.exit(0 if ok and len(a) == len(b) else 1)
P
check "2 ranks match 1 process (losses and last checkpoint within tolerance)" \
  "$PY" "$T/cmp.py" tol "$T/one.log" "$T/two.log" "$T/one/resnet50-last.safetensors" "$T/two/resnet50-last.safetensors"
check "mpirun -np 1 equals the plain run bit for bit" \
  "$PY" "$T/cmp.py" exact "$T/one.log" "$T/np1.log" "$T/one/resnet50-last.safetensors" "$T/np1/resnet50-last.safetensors"

# 2. The 2-rank checkpoint in a 1-process eval gives the 2-rank run's own (sharded) evaluation.
"$BIN" eval --checkpoint "$T/two/resnet50-last.safetensors" --data "$T/data" --test-limit 8 --json > "$T/eval.json" 2>"$T/eval.err"
check "1-process eval of the 2-rank checkpoint exits 0" [ $? -eq 0 ]
check "it equals the 2-rank run's evaluation at save time" py "$T/two.log" "$T/eval.json" <<'P'
import json, sys
ep = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["type"] == "epoch"][-1]
ev = json.load(open(sys.argv[2]))
print("at save: acc %.6f loss %.9g; eval: acc %.6f loss %.9g" % (ep["test_accuracy"], ep["test_loss"], ev["accuracy"], ev["loss"]))
sys.exit(0 if ev["images"] == 8 and abs(ep["test_accuracy"] - ev["accuracy"]) < 1e-9 and abs(ep["test_loss"] - ev["loss"]) <= 1e-5 * max(1, abs(ev["loss"])) else 1)
P

# 3. Ctrl-C: mpirun sends every rank SIGTERM; they finish the step, rank 0 saves, and a 1-process
# --resume continues from that step. (The kill delay is raised so that a slow save is not cut.)
# (a small lr: at the default 0.05 this tiny batch can diverge before the interrupt comes)
LONG=(--data "$T/data" --no-augment --batch-size 4 --train-limit 8 --epochs 1000 --test-limit 2
      --lr 0.002 "${OLD[@]}")
OMPI_MCA_odls_base_sigkill_timeout=60 "${MPI[@]}" -np 2 "$BIN" train "${LONG[@]}" --out "$T/int" --log "$T/int.log" > "$T/int.out" 2>&1 &
mp=$!
for _ in $(seq 600); do [ -s "$T/int/resnet50-last.safetensors" ] && break; sleep 0.5; done
sleep 1
kill -INT $mp
wait $mp
rc=$?
check "interrupted 2-rank job ends non-zero (rc $rc)" [ $rc -ne 0 ]
check "rank 0 saved on the interrupt" grep -q "interrupted: saving" "$T/int.out"
step=$(py "$T/int.log" <<'P'
import json, sys
print([json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["type"] == "step"][-1]["global_step"])
P
)
"$BIN" train "${LONG[@]}" --epochs $(( (step + 1) / 2 + 1 )) --resume "$T/int/resnet50-last.safetensors" --out "$T/int" --log "$T/res.log" > "$T/res.out" 2>&1
check "1-process --resume of the 2-rank checkpoint exits 0" [ $? -eq 0 ]
check "it continues at global step $((step + 1))" py "$T/res.log" "$step" <<'P'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["type"] == "step"]
sys.exit(0 if s and s[0]["global_step"] == int(sys.argv[2]) + 1 else 1)
P

# 4. A rank killed mid-run ends the job non-zero; rank 0's checkpoints stay whole.
"${MPI[@]}" -np 2 "$BIN" train "${LONG[@]}" --out "$T/kill" > "$T/kill.out" 2>&1 &
mp=$!
for _ in $(seq 600); do [ -s "$T/kill/resnet50-last.safetensors" ] && break; sleep 0.5; done
ranks=$(children $mp)
victim=$(tail -n 1 <<<"$ranks")
check "found the 2 ranks" [ "$(wc -w <<<"$ranks")" -eq 2 ]
[ -n "$victim" ] && kill -KILL "$victim"
for _ in $(seq 120); do kill -0 $mp 2>/dev/null || break; sleep 0.5; done
if kill -0 $mp 2>/dev/null; then bad "mpirun still runs 60 s after a rank was killed"; kill -KILL $mp; fi
wait $mp
rc=$?
check "the job ends non-zero when a rank is killed (rc $rc)" [ $rc -ne 0 ]
# a rank may take a moment to exit after mpirun
alive=$ranks
for _ in $(seq 60); do
  alive=""; for p in $ranks; do running "$p" && alive="$alive $p"; done
  [ -z "$alive" ] && break; sleep 0.5
done
check "no rank outlives the job by 30 s (still running:$alive)" [ -z "$alive" ]
for f in best last; do
  "$BIN" eval --checkpoint "$T/kill/resnet50-$f.safetensors" --data "$T/data" --test-limit 2 > "$T/k$f.out" 2>&1
  check "resnet50-$f.safetensors of the killed job loads and evaluates" [ $? -eq 0 ]
done

echo "cli_mpi: $pass passed, $fail failed"
[ $fail -eq 0 ]
