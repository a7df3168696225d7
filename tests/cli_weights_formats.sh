#!/usr/bin/env bash
# Weights from PyTorch and MindSpore, as a user meets them: torch.save'd .pth files (plain, 10-class,
# a wrapped checkpoint dict with non-contiguous, offset, float16/bfloat16/float64 storages) give
# torchvision's logits; hand-encoded MindSpore .ckpt files (tutorial and mindspore/models names,
# optimizer entries, a sliced parameter) give the logits of the same weights in safetensors;
# convert round-trips safetensors -> ckpt -> safetensors bit for bit; every malformed file exits 2
# with its sentence and nothing in a pickle is ever run.
set -u
BIN=${RN50CL_BIN:?}; SRC=${RN50CL_SOURCE_DIR:?}
PY=${RN50CL_PYTHON:-python3}
if ! "$PY" -c 'import torch, torchvision, numpy' 2>/dev/null; then
  echo "cli_weights_formats: PyTorch is not installed (scripts/install-deps.sh --with-torch installs it)"
  echo "cli_weights_formats: 0 passed, 1 failed"; exit 1
fi
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
test_tmpdir weights
W="$SRC/tests/weights_formats.py"
N=4
"$PY" "$SRC/tests/make_cifar.py" "$T/data" 8 $N
"$PY" "$W" make "$T" "$T/data" $N || { echo "cannot write the weights files"; exit 1; }
logits() { "$BIN" predict --checkpoint "$1" --data "$T/data" --count 1 --save-logits "$2" >"$2.out" 2>&1; }

# 1. PyTorch: logits equal torchvision's on the same weights.
for f in rn1000 rn10 wrapped; do
  logits "$T/$f.pth" "$T/$f.npy"
  check "$f.pth loads and predicts" [ -s "$T/$f.npy" ]
  check "$f.pth logits equal torchvision's" "$PY" "$W" close "$T/$f.npy" "$T/ref_$f.npy"
done
"$BIN" train --data "$T/data" --train-limit 8 --test-limit $N --batch-size 4 --max-steps 1 \
  --no-augment --pretrained "$T/rn1000.pth" --out "$T/ft" >"$T/ft.out" 2>&1
check "train --pretrained X.pth exits 0" [ -s "$T/ft/resnet50-last.safetensors" ]
check "train --pretrained X.pth says what it loaded and re-initialised" \
  grep -qzE "loaded 265 of 267 tensors from .*rn1000.pth \(PyTorch .pth\).*fc was re-initialised for 10" "$T/ft.out"

# 2. MindSpore: both naming schemes load into the logits of the same weights in safetensors that
# record MindSpore's 'same' padding, which a .ckpt implies.
"$PY" - "$T/rn10.safetensors" "$T/rn10same.safetensors" <<'P'
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n, = struct.unpack("<Q", b[:8]); h = json.loads(b[8:8 + n])
h.setdefault("__metadata__", {})["padding"] = "same"
hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hb)) + hb + b[8 + n:])
P
logits "$T/rn10same.safetensors" "$T/st.npy"
logits "$T/rn10.safetensors" "$T/st_sym.npy"
check "'same' padding changes the logits (the comparison below can fail)" \
  bash -c '! "$0" "$1" same "$2" "$3"' "$PY" "$W" "$T/st.npy" "$T/st_sym.npy"
for f in tutorial models_repo; do
  logits "$T/$f.ckpt" "$T/$f.npy"
  check "$f.ckpt logits equal the safetensors' bit for bit" "$PY" "$W" same "$T/$f.npy" "$T/st.npy"
done
"$BIN" train --data "$T/data" --train-limit 8 --test-limit $N --batch-size 4 --max-steps 1 \
  --no-augment --pretrained "$T/tutorial.ckpt" --out "$T/ms" >"$T/ms.out" 2>&1
check "train --pretrained X.ckpt loads all 267 tensors and ignores the optimizer's entries" \
  grep -qzE "loaded 267 of 267 tensors from .*\(MindSpore .ckpt\).*ignored 51 entries .*moments\." "$T/ms.out"

# 3. convert: safetensors -> ckpt (tutorial names) -> safetensors is bit-exact; .pth -> safetensors.
expect 0 "converted 267 tensors .*MindSpore .ckpt.*left out 53" "convert to .ckpt" -- \
  "$BIN" convert "$T/rn10.safetensors" "$T/rt.ckpt"
check "the written .ckpt has the tutorial's names" "$PY" "$W" msnames "$T/rt.ckpt"
expect 0 "added 53 num_batches_tracked" "convert .ckpt back to safetensors" -- \
  "$BIN" convert "$T/rt.ckpt" "$T/rt.safetensors"
check "safetensors -> ckpt -> safetensors is bit-exact" "$PY" "$W" roundtrip "$T/rn10.safetensors" "$T/rt.safetensors"
expect 0 "converted 320 tensors .*wrapped.pth \(PyTorch .pth\).*3 converted to float32.*ignored 3" \
  "convert a wrapped .pth" -- "$BIN" convert "$T/wrapped.pth" "$T/wrapped.safetensors"
logits "$T/wrapped.safetensors" "$T/wrapped_st.npy"
check "the converted .pth gives the same logits" "$PY" "$W" same "$T/wrapped_st.npy" "$T/wrapped.npy"
expect 2 "cannot tell the output format" "convert to an unknown extension" -- \
  "$BIN" convert "$T/rn10.pth" "$T/out.bin"
expect 2 "takes an input and an output" "convert with one file" -- "$BIN" convert "$T/rn10.pth"

# 4. Malformed files: exit 2, one sentence, nothing executed.
P=(predict --data "$T/data" --count 1 --checkpoint)
head -c 1000000 "$T/rn10.pth" > "$T/truncated.pth"
head -c 5000000 "$T/tutorial.ckpt" > "$T/truncated.ckpt"
expect 2 "not a usable PyTorch .pth checkpoint: .*truncated" "truncated zip" -- "$BIN" "${P[@]}" "$T/truncated.pth"
expect 2 "names the global os\.system, which a state_dict does not need" "pickle naming os.system" -- \
  "$BIN" "${P[@]}" "$T/os_system.pth"
check "the os.system pickle ran nothing" [ ! -e "$T/PWNED" ]
expect 2 "names the global torchvision\.models\.resnet\.ResNet" "a whole pickled module" -- \
  "$BIN" "${P[@]}" "$T/whole_module.pth"
expect 2 "legacy format" "a pre-1.6 .pth" -- "$BIN" "${P[@]}" "$T/legacy.pth"
expect 2 "is compressed \(method 8\)" "a deflated zip" -- "$BIN" "${P[@]}" "$T/deflated.pth"
expect 2 "tensor conv1.weight has shape \[64, 3, 3, 3\] but the model needs \[64, 3, 7, 7\]" \
  "wrong shape" -- "$BIN" "${P[@]}" "$T/wrong_shape.pth"
expect 2 "not a usable MindSpore .ckpt checkpoint: field 1 at byte 0 has length 65535 but only 5 bytes" \
  "protobuf length past the end" -- "$BIN" "${P[@]}" "$T/ms_badlen.ckpt"
expect 2 "bad or cut-off length" "protobuf bad varint" -- "$BIN" "${P[@]}" "$T/ms_badvarint.ckpt"
expect 2 "fc.bias has 36 content bytes but its dims and type Float32 need 40" "ckpt dims vs content" -- \
  "$BIN" "${P[@]}" "$T/ms_baddims.ckpt"
expect 2 "not a usable MindSpore .ckpt checkpoint: .*truncated" "truncated ckpt" -- \
  "$BIN" "${P[@]}" "$T/truncated.ckpt"
expect 2 "not safetensors, a PyTorch .pth .* or a MindSpore .ckpt" "unknown format" -- \
  "$BIN" convert "$T/data/batches.meta.txt" "$T/x.safetensors"
echo "cli_weights_formats: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
