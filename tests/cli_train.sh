#!/usr/bin/env bash
# Drives `rn50cl train / eval / predict` as a user would, on small CIFAR-format data the test writes:
# a fixed batch overfits, evaluation after loading equals evaluation at save time, --resume gives
# the losses of an uninterrupted run, Ctrl-C saves and exits 130, divergence exits 3, the grid is a
# PNG of the expected size, logits are a (N, 10) .npy, and every bad input gets its message and code.
set -u
BIN=${RN50CL_BIN:?RN50CL_BIN not set}
SRC=${RN50CL_SOURCE_DIR:?}
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
test_tmpdir cli_train
PY=${RN50CL_PYTHON:-python3}
py() { "$PY" - "$@"; }
# Every step loss from a --log file, one per line.
losses() { py "$1" <<'P'
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o["type"] == "step": print("%d %.9g" % (o["global_step"], o["loss"]))
P
}

"$PY" "$SRC/tests/make_cifar.py" "$T/data" 32 24 || { echo "cannot make data"; exit 1; }
COMMON=(--data "$T/data" --no-augment --weight-decay 0 --no-nesterov --schedule constant --warmup-epochs 0 --label-smoothing 0)

# 1. A small fixed batch overfits: loss below 0.05 within 25 steps.
"$BIN" train "${COMMON[@]}" --train-limit 8 --batch-size 8 --epochs 25 --lr 0.005 --no-shuffle \
  --out "$T/of" --log "$T/of.log" > "$T/of.out" 2>&1
check "overfit run exits 0" [ $? -eq 0 ]
last=$(losses "$T/of.log" | tail -1 | cut -d' ' -f2)
check "a fixed batch of 8 overfits: final loss $last < 0.05 after 25 steps" py "$last" <<<'import sys; sys.exit(0 if float(sys.argv[1]) < 0.05 else 1)'

# 2. Checkpoints exist; evaluation after loading equals evaluation at save time.
check "best checkpoint written" [ -s "$T/of/resnet50-best.safetensors" ]
check "last checkpoint written" [ -s "$T/of/resnet50-last.safetensors" ]
check "no temporary files left in the output folder" [ -z "$(ls "$T/of" | grep -v '^\(resnet50-\(best\|last\)\.safetensors\|curves\.png\)$')" ]
"$BIN" eval --checkpoint "$T/of/resnet50-last.safetensors" --data "$T/data" --json > "$T/eval.json" 2>"$T/eval.err"
check "eval --json exits 0" [ $? -eq 0 ]
check "eval of the loaded last checkpoint equals the evaluation at save time" py "$T/of.log" "$T/eval.json" <<'P'
import json, sys
ep = [json.loads(l) for l in open(sys.argv[1]) if '"epoch"' in l and json.loads(l)["type"] == "epoch"][-1]
ev = json.load(open(sys.argv[2]))
ok = abs(ep["test_accuracy"] - ev["accuracy"]) < 1e-9 and abs(ep["test_loss"] - ev["loss"]) <= 1e-6 * max(1, abs(ev["loss"]))
print("train-time test acc %.6f loss %.9g; eval acc %.6f loss %.9g" % (ep["test_accuracy"], ep["test_loss"], ev["accuracy"], ev["loss"]))
sys.exit(0 if ok and ev["images"] == 24 and len(ev["confusion"]) == 10 else 1)
P
expect 0 'test accuracy:.*per class:.*confusion matrix' "eval prints accuracy, per-class table and confusion matrix" -- "$BIN" eval --checkpoint "$T/of/resnet50-best.safetensors" --data "$T/data"
# RN50CL_PROFILE=1: eval prints its kernel table after the results; under --json on stderr, so
# that stdout stays the one JSON object
expect 0 'confusion matrix.*kernel +ms +calls +share.*sgemm/.*rn_im2col.*total' "RN50CL_PROFILE=1 eval prints the kernel table after the results" -- env RN50CL_PROFILE=1 "$BIN" eval --checkpoint "$T/of/resnet50-best.safetensors" --data "$T/data"
RN50CL_PROFILE=1 "$BIN" eval --checkpoint "$T/of/resnet50-best.safetensors" --data "$T/data" --json > "$T/prof.json" 2>"$T/prof.err"
check "RN50CL_PROFILE=1 eval --json: stdout is one JSON object, the table on stderr" py "$T/prof.json" "$T/prof.err" <<<'import json, sys; json.load(open(sys.argv[1])); sys.exit(0 if "rn_batchnorm_" in open(sys.argv[2]).read() else 1)'

# 2b. curves.png beside the checkpoints: a 1320x460 PNG with the train (blue) and test (orange)
# lines in the loss and accuracy panels and the learning rate (green) in the third; the last
# checkpoint carries the 25 epoch records it was drawn from.
png_colours() { py "$1" <<'P'
import struct, sys, zlib
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n"
w, h = struct.unpack(">II", b[16:24])
pos, idat = 8, b""
while pos < len(b):
    n, = struct.unpack(">I", b[pos:pos+4]); t = b[pos+4:pos+8]
    if t == b"IDAT": idat += b[pos+8:pos+8+n]
    pos += 12 + n
raw = zlib.decompress(idat)
rows = [raw[y * (1 + 3 * w) + 1:(y + 1) * (1 + 3 * w)] for y in range(h)]
want = {"train": (31, 119, 180), "test": (230, 100, 10), "lr": (44, 160, 44)}
count = {(k, p): 0 for k in want for p in range(3)}
for y in range(h):
    r = rows[y]
    for x in range(w):
        c = tuple(r[3 * x:3 * x + 3])
        for k, v in want.items():
            if c == v: count[(k, min(x // 440, 2))] += 1
print("%dx%d" % (w, h), " ".join("%s@%d:%d" % (k, p, n) for (k, p), n in sorted(count.items())))
P
}
cols=$(png_colours "$T/of/curves.png")
check "curves.png is 1320x460 with train and test lines in loss and accuracy panels and lr in the third ($cols)" \
  py "$cols" <<'P'
import sys
f = sys.argv[1].split(); n = dict(kv.split(":") for kv in f[1:])
big = lambda k: int(n[k]) > 200
sys.exit(0 if f[0] == "1320x460" and all(map(big, ["train@0", "test@0", "train@1", "test@1", "lr@2"])) and int(n["lr@0"]) == 0 else 1)
P
history() { py "$1" <<'P'
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n, = struct.unpack("<Q", b[:8])
print(json.loads(json.loads(b[8:8 + n])["__metadata__"]["history"]))
P
}
check "the last checkpoint carries the 25 epoch records" py "$(history "$T/of/resnet50-last.safetensors")" <<<'import ast, sys; h = ast.literal_eval(sys.argv[1]); sys.exit(0 if [r[0] for r in h] == list(range(1, 26)) else 1)'
expect 0 'wrote .*of.png \(25 epochs, 25 learning-rate points' "plot draws the same log's epochs and steps" -- "$BIN" plot "$T/of.log" -o "$T/of.png"
# (the log holds the values to 9 digits, the trainer drew exact ones: a pixel may round apart)
check "plot's picture has the trainer's panels and lines ($(png_colours "$T/of.png"))" py "$cols" "$(png_colours "$T/of.png")" <<'P'
import sys
a, b = (dict(kv.split(":") for kv in s.split()[1:]) for s in sys.argv[1:3])
sys.exit(0 if a.keys() == b.keys() and all(abs(int(a[k]) - int(b[k])) <= 0.05 * int(a[k]) for k in a) else 1)
P
printf '{"type": "epoch", "epoch": 1}\n' > "$T/short.log"; : > "$T/empty.log"; printf 'garbage\n' > "$T/garbage.log"
expect 2 'line 1 of .*short.log' "plot refuses a record without its fields" -- "$BIN" plot "$T/short.log" -o "$T/x.png"
expect 2 'line 1 of .*garbage.log' "plot refuses a line that is not JSON" -- "$BIN" plot "$T/garbage.log" -o "$T/x.png"
expect 2 'empty.log has no epoch or step records' "plot refuses an empty log" -- "$BIN" plot "$T/empty.log" -o "$T/x.png"
expect 2 'cannot open the log' "plot refuses a missing log" -- "$BIN" plot "$T/none.log"
expect 2 'name the log' "plot without a log refused" -- "$BIN" plot -o "$T/x.png"
check "no picture written by the refused plots" [ ! -e "$T/x.png" ]

# 3. predict: grid PNG of the expected size and logits .npy of every test image.
expect 0 'predicted .* true .*wrote .*grid.png.*wrote .*logits.npy' "predict prints predictions and writes grid and logits" -- \
  "$BIN" predict --checkpoint "$T/of/resnet50-last.safetensors" --data "$T/data" --count 6 --grid "$T/grid.png" --save-logits "$T/logits.npy"
check "grid is a valid PNG of 408x302 (3x2 cells of 128 px + titles)" py "$T/grid.png" <<'P'
import struct, sys, zlib
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n"
w, h = struct.unpack(">II", b[16:24])
pos, idat = 8, b""
while pos < len(b):
    n, = struct.unpack(">I", b[pos:pos+4]); t = b[pos+4:pos+8]; d = b[pos+8:pos+8+n]
    assert zlib.crc32(t + d) == struct.unpack(">I", b[pos+8+n:pos+12+n])[0]
    if t == b"IDAT": idat += d
    pos += 12 + n
assert len(zlib.decompress(idat)) == h * (1 + 3 * w)
sys.exit(0 if (w, h) == (408, 302) else 1)
P
if "$PY" -c 'import numpy' 2>/dev/null; then
  check "logits .npy of the last checkpoint is float32 (24, 10) and gives eval's count of correct predictions" py "$T/logits.npy" "$T/eval.json" "$T/data/test_batch.bin" <<'P'
import json, sys, numpy as np
a = np.load(sys.argv[1]); ev = json.load(open(sys.argv[2]))
labels = np.frombuffer(open(sys.argv[3], "rb").read(), np.uint8).reshape(-1, 3073)[:, 0]
sys.exit(0 if a.dtype == np.float32 and a.shape == (24, 10) and int((a.argmax(1) == labels).sum()) == ev["correct"] else 1)
P
else
  echo "SKIP: numpy missing, logits .npy not checked (not counted)"
fi

# 3b. eval/predict --tta: the logits are the mean of the image's and its mirror image's (the mirror
# images made by flipping the test file), and the output says which was used.
py "$T/data" "$T/mirror" <<'P'
import os, shutil, sys
src, dst = sys.argv[1:3]; shutil.copytree(src, dst)
b = bytearray(open(src + "/test_batch.bin", "rb").read())
for i in range(len(b) // 3073):
    for c in range(3):
        for y in range(32):
            o = i * 3073 + 1 + c * 1024 + y * 32
            b[o:o + 32] = b[o:o + 32][::-1]
open(dst + "/test_batch.bin", "wb").write(b)
P
L=(--checkpoint "$T/of/resnet50-last.safetensors" --count 24)
"$BIN" predict "${L[@]}" --data "$T/mirror" --save-logits "$T/lm.npy" > /dev/null 2>&1
"$BIN" predict "${L[@]}" --data "$T/data" --tta --save-logits "$T/lt.npy" > /dev/null 2>&1
if "$PY" -c 'import numpy' 2>/dev/null; then
  check "--tta logits are the mean of the image's and the mirror image's" py "$T/logits.npy" "$T/lm.npy" "$T/lt.npy" <<'P'
import sys, numpy as np
a, m, t = (np.load(f) for f in sys.argv[1:4])
err = np.abs(t - (a + m) / 2).max(); print("tta vs mean of views: max |diff| %.3g, views differ by %.3g" % (err, np.abs(a - m).max()))
sys.exit(0 if t.shape == a.shape and err <= 1e-5 * max(1, np.abs(t).max()) and np.abs(a - m).max() > 1e-3 else 1)
P
fi
expect 0 'test accuracy: .*with test-time mirroring' "eval --tta says it averaged with the mirror image" -- "$BIN" eval --checkpoint "$T/of/resnet50-last.safetensors" --data "$T/data" --tta
expect 0 '"views": "image"' "eval --json says single view without --tta" -- "$BIN" eval --checkpoint "$T/of/resnet50-last.safetensors" --data "$T/data" --json

# 4. --resume continues with exactly the losses of an uninterrupted run.
R=(--train-limit 32 --batch-size 8 --epochs 2 --lr 0.005 --seed 3)
"$BIN" train "${COMMON[@]}" "${R[@]}" --out "$T/full" --log "$T/full.log" > /dev/null 2>&1
"$BIN" train "${COMMON[@]}" "${R[@]}" --out "$T/part" --log "$T/part.log" --max-steps 5 > "$T/part.out" 2>&1
check "--max-steps 5 stops after 5 steps and saves" grep -q "stopping after 5 steps" "$T/part.out"
"$BIN" train "${COMMON[@]}" "${R[@]}" --out "$T/part" --log "$T/part.log" --resume "$T/part/resnet50-last.safetensors" > "$T/resume.out" 2>&1
check "resume exits 0" [ $? -eq 0 ]
check "resumed run has the 8 losses of the uninterrupted run, bit for bit" diff <(losses "$T/full.log") <(losses "$T/part.log")
check "the resumed run's checkpoint carries the uninterrupted run's epoch records" [ "$(history "$T/part/resnet50-last.safetensors")" = "$(history "$T/full/resnet50-last.safetensors")" ]

# 5. Ctrl-C finishes the step, writes resnet50-last.safetensors, exits 130.
"$BIN" train "${COMMON[@]}" --train-limit 32 --batch-size 8 --epochs 50 --lr 0.005 --out "$T/int" --log "$T/int.log" > "$T/int.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -s "$T/int.log" ] && break; sleep 0.2; done
kill -INT $pid; wait $pid; rc=$?
check "Ctrl-C exits 130 (got $rc)" [ $rc -eq 130 ]
check "Ctrl-C saved resnet50-last.safetensors" grep -q "interrupted: saving" "$T/int.out"
expect 0 'test accuracy' "the interrupted run's checkpoint loads" -- "$BIN" eval --checkpoint "$T/int/resnet50-last.safetensors" --data "$T/data"

# 6. A diverging loss stops with status 3 and leaves the best checkpoint alone.
expect 3 'loss became (NaN|infinite).*Lower --lr' "a diverging run stops with status 3" -- \
  "$BIN" train "${COMMON[@]}" --train-limit 16 --batch-size 8 --epochs 3 --lr 1e30 --fc-init-scale 1 --out "$T/nan"
check "a diverging run writes no best checkpoint" [ ! -e "$T/nan/resnet50-best.safetensors" ]

# 7. Bad input: one sentence, exit 2.
mkdir -p "$T/trunc" "$T/badlabel" "$T/empty"
cp "$T/data"/* "$T/trunc/"; head -c 5000 "$T/data/test_batch.bin" > "$T/trunc/test_batch.bin"
cp "$T/data"/* "$T/badlabel/"; printf '\x0c' | dd of="$T/badlabel/data_batch_1.bin" bs=1 seek=3073 conv=notrunc 2>/dev/null
expect 2 'test_batch.bin.*(truncated|whole number)' "truncated data file refused" -- "$BIN" train --data "$T/trunc" --out "$T/x"
expect 2 'data_batch_1.bin.*label' "label out of range refused" -- "$BIN" train --data "$T/badlabel" --out "$T/x"
expect 2 'test_batch.bin' "data folder without files refused" -- "$BIN" train --data "$T/empty" --out "$T/x"
printf 'not a safetensors file at all' > "$T/garbage.safetensors"
expect 2 'garbage.safetensors' "a corrupt checkpoint is refused" -- "$BIN" eval --checkpoint "$T/garbage.safetensors" --data "$T/data"
head -c 100000 "$T/of/resnet50-best.safetensors" > "$T/trunc.safetensors"
expect 2 'trunc.safetensors' "a truncated checkpoint is refused" -- "$BIN" eval --checkpoint "$T/trunc.safetensors" --data "$T/data"
expect 2 'no such file|cannot (open|read)' "a missing checkpoint is refused" -- "$BIN" eval --checkpoint "$T/none.safetensors" --data "$T/data"
expect 2 'momentum' "resuming from a best checkpoint (no momentum) is refused" -- "$BIN" train --data "$T/data" --batch-size 8 --out "$T/x" --resume "$T/of/resnet50-best.safetensors"
expect 2 'fc.weight.*shape' "a checkpoint of another class count is refused by --resume" -- "$BIN" train --data "$T/data" --batch-size 8 --classes 12 --out "$T/x" --resume "$T/of/resnet50-last.safetensors"
expect 0 're-initialised for 12 classes' "--pretrained with another head re-initialises fc and says so" -- \
  "$BIN" train "${COMMON[@]}" --train-limit 8 --batch-size 8 --epochs 1 --max-steps 1 --classes 12 --out "$T/pre" --pretrained "$T/of/resnet50-best.safetensors"
expect 2 'batch size 100000.*--batch-size [0-9]+ or less' "a batch too big for the device names one that fits" -- "$BIN" train --data "$T/data" --batch-size 100000 --out "$T/x"
expect 2 'labels 0-9, so --classes must be at least 10' "fewer classes than CIFAR-10 labels refused" -- "$BIN" train --data "$T/data" --classes 7 --out "$T/x"
expect 2 'fewer than one batch' "a batch larger than the training set is refused" -- "$BIN" train --data "$T/data" --batch-size 64 --out "$T/x"
expect 2 '--batch-size must be at least 2 \(batch-norm' "batch size 0 refused" -- "$BIN" train --batch-size 0
expect 2 '--batch-size must be at least 2 \(batch-norm' "batch size 1 refused" -- "$BIN" train --batch-size 1
expect 2 '--max-steps must be 0 \(no limit\) or more\.' "negative --max-steps refused" -- "$BIN" train --max-steps -1
expect 2 '--train-limit must be 0 \(all images\) or more\.' "negative --train-limit refused" -- "$BIN" train --train-limit -1
expect 2 '--test-limit must be 0 \(all images\) or more\.' "negative --test-limit refused" -- "$BIN" train --test-limit -1
expect 2 '--test-limit must be 0 \(all images\) or more\.' "eval: negative --test-limit refused" -- "$BIN" eval --test-limit -1
expect 2 '--workspace-mb must be at least 1\.' "--workspace-mb 0 refused" -- "$BIN" train --workspace-mb 0
expect 2 '--resume and --pretrained cannot be combined' "0 passes --max-steps, --train-limit and --test-limit (the next check speaks)" -- \
  "$BIN" train --max-steps 0 --train-limit 0 --test-limit 0 --resume "$T/x" --pretrained "$T/x"
expect 2 '--schedule must be' "unknown schedule refused" -- "$BIN" train --schedule linear
expect 2 "needs a number" "malformed number refused" -- "$BIN" train --lr fast
expect 2 '--checkpoint FILE is required' "eval without a checkpoint refused" -- "$BIN" eval --data "$T/data"
expect 2 '^rn50cl: error: --count must be at least 1\.[[:space:]]*$' "predict --count 0: that sentence alone, before any loading (no data, no checkpoint)" -- \
  "$BIN" predict --count 0 --data "$T/none" --checkpoint "$T/none.safetensors"
expect 2 'no OpenCL platform' "no ICD: train refused cleanly" -- env OCL_ICD_VENDORS="$T/empty" "$BIN" train --data "$T/data"
echo "cli_train: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
