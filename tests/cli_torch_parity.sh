#!/usr/bin/env bash
# rn50cl against PyTorch on the same weights and data: eval-mode logits, and one training step
# (weights, running statistics, momentum, counters) from the same starting checkpoint; both again
# with --padding same against PyTorch padding each conv and the max-pool MindSpore's way.
set -u
BIN=${RN50CL_BIN:?}; SRC=${RN50CL_SOURCE_DIR:?}
PY=${RN50CL_PYTHON:-python3}
if ! "$PY" -c 'import torch, torchvision, numpy' 2>/dev/null; then
  echo "cli_torch_parity: PyTorch is not installed (scripts/install-deps.sh --with-torch installs it)"
  echo "cli_torch_parity: 0 passed, 1 failed"; exit 1
fi
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
test_tmpdir parity
"$PY" "$SRC/tests/make_cifar.py" "$T/data" 16 12
C=(--data "$T/data" --no-augment --no-shuffle --train-limit 16 --batch-size 16 --epochs 1 --warmup-epochs 0 --schedule constant)
# A starting point that is not the initialisation: a few steps of training, so BN statistics and
# weights are generic.
# (torchvision's init for it: from a zero head one step changes the classifier alone)
"$BIN" train "${C[@]}" --lr 0.01 --max-steps 1 --residual-gamma 0 --fc-init-scale 1 --out "$T/a" >/dev/null 2>&1
check "starting checkpoint written" [ -s "$T/a/resnet50-best.safetensors" ]
"$BIN" predict --checkpoint "$T/a/resnet50-best.safetensors" --data "$T/data" --count 1 --save-logits "$T/l.npy" >/dev/null 2>&1
check "eval-mode logits equal torchvision's on the same weights" "$PY" "$SRC/tests/torch_parity.py" logits "$T/a/resnet50-best.safetensors" "$T/data" "$T/l.npy"
# nesterov=1 with the defaults (label smoothing 0.1, no weight decay on BN and biases); nesterov=0
# with plain cross-entropy and weight decay on every parameter.
for nest in 1 0; do
  flags=(--nesterov --label-smoothing 0.1); ls=0.1; bnd=0 # (--pretrained implies the tutorial's 0)
  [ $nest = 0 ] && flags=(--no-nesterov --label-smoothing 0 --bn-decay) && ls=0 && bnd=1
  "$BIN" train "${C[@]}" --lr 0.05 --momentum 0.9 --weight-decay 5e-4 "${flags[@]}" --max-steps 1 \
    --pretrained "$T/a/resnet50-best.safetensors" --out "$T/b$nest" >/dev/null 2>&1
  check "one step (nesterov=$nest, label smoothing $ls, BN decay $bnd) equals torch.optim.SGD's" \
    "$PY" "$SRC/tests/torch_parity.py" step "$T/a/resnet50-best.safetensors" \
    "$T/b$nest/resnet50-last.safetensors" "$T/data" 16 0.05 0.9 5e-4 $nest $ls $bnd
done
"$BIN" train "${C[@]}" --lr 0.05 --momentum 0.9 --weight-decay 5e-4 --no-nesterov --max-steps 1 \
  --pretrained "$T/a/resnet50-best.safetensors" --padding same --out "$T/s" >/dev/null 2>&1
check "one step with --padding same equals torch.optim.SGD's on MindSpore-padded layers" "$PY" "$SRC/tests/torch_parity.py" step \
  "$T/a/resnet50-best.safetensors" "$T/s/resnet50-last.safetensors" "$T/data" 16 0.05 0.9 5e-4 0 0 0
"$BIN" predict --checkpoint "$T/s/resnet50-last.safetensors" --data "$T/data" --count 1 --save-logits "$T/ls.npy" >/dev/null 2>&1
check "eval-mode logits of a 'same' checkpoint equal MindSpore-padded torchvision's" "$PY" "$SRC/tests/torch_parity.py" logits "$T/s/resnet50-last.safetensors" "$T/data" "$T/ls.npy"
echo "cli_torch_parity: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
