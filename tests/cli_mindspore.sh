#!/usr/bin/env bash
# rn50cl against real MindSpore (optional: scripts/install-deps.sh --with-mindspore; skipped, exit
# 77, without it). A checkpoint written by MindSpore's save_checkpoint from the tutorial's ResNet50
# gives the logits of MindSpore's pad_mode='same' network (a .ckpt implies --padding same); rn50cl's
# convert writes a .ckpt that MindSpore's load_param_into_net takes whole, to the same logits.
set -u
BIN=${RN50CL_BIN:?}; SRC=${RN50CL_SOURCE_DIR:?}
PY=${RN50CL_PYTHON:-python3}
MSPY=${RN50CL_MINDSPORE_PYTHON:-/opt/rn50cl-mindspore/bin/python}
if ! "$MSPY" -c 'import mindspore' >/dev/null 2>&1; then
  echo "cli_mindspore: skipped, MindSpore is not installed (scripts/install-deps.sh --with-mindspore)"
  exit 77
fi
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
test_tmpdir mindspore
# MindSpore's own warnings go to a log, shown only when a step fails.
ms() {
  "$MSPY" "$SRC/tests/mindspore_check.py" "$@" >"$T/ms.log" 2>&1; local rc=$?
  grep -E "max\||MindSpore loads" "$T/ms.log"
  [ $rc -eq 0 ] || tail -n 5 "$T/ms.log"
  return $rc
}
N=4
"$PY" "$SRC/tests/make_cifar.py" "$T/data" 8 $N
ms save "$T/ms.ckpt" "$T/data" $N "$T" || { echo "MindSpore could not write its checkpoint"; exit 1; }
"$BIN" predict --checkpoint "$T/ms.ckpt" --data "$T/data" --count 1 --save-logits "$T/ours.npy" >/dev/null 2>&1
check "MindSpore's own .ckpt gives the logits of MindSpore's 'same'-padded network" ms close "$T/ours.npy" "$T/ms_same.npy"
# For the record: how far the symmetric padding (PyTorch's) would be off.
ms diff "$T/ours.npy" "$T/ms_sym.npy"
"$BIN" convert "$T/ms.ckpt" "$T/ms.safetensors" >/dev/null &&
  "$BIN" convert "$T/ms.safetensors" "$T/rt.ckpt" >/dev/null
check "MindSpore loads rn50cl's .ckpt whole, to the same logits" ms load "$T/rt.ckpt" "$T/data" $N "$T/ms_sym.npy"
echo "cli_mindspore: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
