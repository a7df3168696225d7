#!/usr/bin/env bash
# `rn50cl train --recipe` and `--padding` as a user meets them, on small CIFAR-format data: the
# tutorial recipe's values (batch 256, no warm-up, lr 1e-3 cosine per step to 1e-5 read back from
# the --log lines, plain momentum, no weight decay, 5 epochs), flags given win in either order,
# --pretrained picks the tutorial recipe unless --recipe default says otherwise; a 'same' run's
# checkpoints record the padding, eval reads it back, --resume and --pretrained honour it; bad
# values exit 2 with their sentence.
set -u
BIN=${RN50CL_BIN:?RN50CL_BIN not set}
SRC=${RN50CL_SOURCE_DIR:?}
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
test_tmpdir cli_recipe
PY=${RN50CL_PYTHON:-python3}
py() { "$PY" - "$@"; }
# The learning rate of every step in a --log file, one per line.
lrs() { py "$1" <<'P'
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o["type"] == "step": print("%.9g" % o["lr"])
P
}
# near FILE VALUE...: the log's learning rates are these, to 1e-6 relative.
near() { local f=$1; shift; py "$f" "$@" <<'P'
import json, sys
got = [json.loads(l)["lr"] for l in open(sys.argv[1]) if json.loads(l)["type"] == "step"]
want = [float(v) for v in sys.argv[2:]]
ok = len(got) == len(want) and all(abs(g - w) <= 1e-6 * w for g, w in zip(got, want))
print("lr per step", got, "expected", want)
sys.exit(0 if ok else 1)
P
}
# The "padding" metadata of a safetensors file.
padding_of() { py "$1" <<'P'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n, = struct.unpack("<Q", b[:8])
print(json.loads(b[8:8 + n]).get("__metadata__", {}).get("padding", "(none)"))
P
}

"$PY" "$SRC/tests/make_cifar.py" "$T/data" 16 8 || { echo "cannot make data"; exit 1; }
Q=(--data "$T/data" --no-augment)

# 1. --padding same: recorded in both checkpoints and read back by eval (the same file relabelled
#    symmetric evaluates otherwise).
"$BIN" train "${Q[@]}" --padding same --batch-size 8 --train-limit 8 --epochs 1 --out "$T/same" --log "$T/same.log" > "$T/same.out" 2>&1
check "a --padding same run exits 0" [ $? -eq 0 ]
check "it says so" grep -q "padding: same" "$T/same.out"
check "resnet50-best records padding same" [ "$(padding_of "$T/same/resnet50-best.safetensors")" = same ]
check "resnet50-last records padding same" [ "$(padding_of "$T/same/resnet50-last.safetensors")" = same ]
py "$T/same/resnet50-last.safetensors" "$T/relabelled.safetensors" <<'P'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n, = struct.unpack("<Q", b[:8])
h = json.loads(b[8:8 + n]); h["__metadata__"]["padding"] = "symmetric"
hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hb)) + hb + b[8 + n:])
P
"$BIN" eval --checkpoint "$T/same/resnet50-last.safetensors" --data "$T/data" --json > "$T/same.json" 2>/dev/null
"$BIN" eval --checkpoint "$T/relabelled.safetensors" --data "$T/data" --json > "$T/relab.json" 2>/dev/null
check "eval of the 'same' checkpoint gives the training run's test loss, and the file relabelled symmetric another" \
  py "$T/same.log" "$T/same.json" "$T/relab.json" <<'P'
import json, sys
ep = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["type"] == "epoch"][-1]
a, b = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
print("train-time test loss %.9g; eval %.9g; relabelled symmetric %.9g" % (ep["test_loss"], a["loss"], b["loss"]))
sys.exit(0 if abs(ep["test_loss"] - a["loss"]) <= 1e-6 * max(1, a["loss"]) and abs(a["loss"] - b["loss"]) > 1e-4 else 1)
P
expect 2 'trained with same padding.*drop --padding symmetric' "--resume cannot change the padding" -- \
  "$BIN" train "${Q[@]}" --batch-size 8 --train-limit 8 --epochs 2 --out "$T/same" --resume "$T/same/resnet50-last.safetensors" --padding symmetric

# 2. The tutorial recipe over a whole (small) run: 5 epochs of 1 step at an explicit batch of 8;
#    lr 1e-5 + (1e-3 − 1e-5)·(1 + cos(π·s/5))/2 at step s, no warm-up; plain momentum, no decay.
"$BIN" train "${Q[@]}" --recipe tutorial --batch-size 8 --train-limit 8 --out "$T/tut" --log "$T/tut.log" > "$T/tut.out" 2>&1
check "tutorial run exits 0" [ $? -eq 0 ]
check "it says which recipe it uses" grep -q "^recipe: tutorial" "$T/tut.out"
check "5 epochs, the explicit batch 8, lr 0.001 cosine without warm-up, plain momentum 0.9, no weight decay" \
  grep -q "for 5 epochs, batch 8, lr 0.001 (cosine, 0 warm-up epochs), momentum 0.9, weight decay 0 (not on BN and biases), label smoothing 0," "$T/tut.out"
check "lr per step: cosine from 1e-3 towards 1e-5 over the 5 steps" near "$T/tut.log" $(py <<'P'
import math
print(" ".join("%.12g" % (1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * s / 5))) for s in range(5)))
P
)
check "the best checkpoint is written" [ -s "$T/tut/resnet50-best.safetensors" ]
# Its own batch is 256: more than these 16 images, which the run names before training.
expect 2 'fewer than one batch of 256' "the tutorial recipe's batch is 256" -- "$BIN" train "${Q[@]}" --recipe tutorial --out "$T/b256"

# 3. A flag given wins over the recipe, before or after --recipe.
"$BIN" train "${Q[@]}" --lr 0.004 --recipe tutorial --batch-size 8 --max-steps 1 --out "$T/o1" --log "$T/o1.log" > /dev/null 2>&1
check "--lr 0.004 before --recipe tutorial wins" near "$T/o1.log" 0.004
"$BIN" train "${Q[@]}" --recipe tutorial --batch-size 8 --max-steps 1 --lr 0.004 --out "$T/o2" --log "$T/o2.log" > /dev/null 2>&1
check "--lr 0.004 after --recipe tutorial wins" near "$T/o2.log" 0.004

# 4. --pretrained means the tutorial recipe, unless --recipe default; it takes the checkpoint's
#    padding unless --padding says otherwise.
"$BIN" train "${Q[@]}" --pretrained "$T/same/resnet50-best.safetensors" --batch-size 8 --max-steps 1 --out "$T/p1" --log "$T/p1.log" > "$T/p1.out" 2>&1
check "--pretrained alone uses the tutorial recipe" grep -q "^recipe: tutorial" "$T/p1.out"
check "--pretrained alone: lr 1e-3" near "$T/p1.log" 0.001
check "--pretrained from a 'same' checkpoint pads 'same'" grep -q "padding: same" "$T/p1.out"
check "... and so does its checkpoint" [ "$(padding_of "$T/p1/resnet50-last.safetensors")" = same ]
"$BIN" train "${Q[@]}" --pretrained "$T/same/resnet50-best.safetensors" --recipe default --padding symmetric --batch-size 8 --max-steps 1 --out "$T/p2" --log "$T/p2.log" > "$T/p2.out" 2>&1
"$BIN" train "${Q[@]}" --batch-size 8 --max-steps 1 --out "$T/d" --log "$T/d.log" > "$T/d.out" 2>&1
check "--padding symmetric overrides the checkpoint's" [ "$(padding_of "$T/p2/resnet50-last.safetensors")" = symmetric ]
check "a default run's checkpoint records padding symmetric" [ "$(padding_of "$T/d/resnet50-last.safetensors")" = symmetric ]
check "--pretrained --recipe default names no recipe" bash -c "! grep -q '^recipe:' '$T/p2.out'"
check "--pretrained --recipe default has the learning rate of a run without --pretrained" diff <(lrs "$T/p2.log") <(lrs "$T/d.log")
check "... which is not the tutorial's ($(lrs "$T/d.log") vs $(lrs "$T/p1.log"))" [ "$(lrs "$T/d.log")" != "$(lrs "$T/p1.log")" ]

# 6. Bad values: one sentence, exit 2.
expect 2 '--recipe must be default or tutorial\.' "unknown recipe refused" -- "$BIN" train --recipe fancy
expect 2 '--min-lr must be between 0 and --lr\.' "--min-lr above --lr refused" -- "$BIN" train --lr 0.01 --min-lr 0.1
expect 2 '--min-lr must be between 0 and --lr\.' "negative --min-lr refused" -- "$BIN" train --min-lr -1
expect 2 '--padding must be symmetric or same\.' "unknown padding refused" -- "$BIN" train --padding valid
echo "cli_recipe: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
