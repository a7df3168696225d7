#!/usr/bin/env bash
# Runs the op tests (every rn50cl kernel, rn50cl's own GEMM kernels and the CLBlast kernels the ops
# call) on Oclgrind's simulated device, small shapes only (RN50CL_TEST_SMALL), with its API checks
# and data-race detection on top of its always-on checks (out-of-bounds and unaligned accesses,
# barrier divergence, invalid work-group sizes). A test that fails or any Oclgrind report fails.
# --uninitialized is left out: Oclgrind 21.10's checker aborts on LLVM's `freeze` instruction
# (rn_im2col_fwd) and crashes inside itself on others. Usage: oclgrind.sh OCLGRIND TEST_BIN_DIR
set -u
OCLGRIND=$1
DIR=$2
mkdir -p "${RN50CL_TEST_TMP:-/tmp}"
T=$(mktemp -d "${RN50CL_TEST_TMP:-/tmp}/oclgrind.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
unset RN50CL_DEVICE # Oclgrind's device is the only one its runtime offers
fail=0
for t in test_loss test_sgd test_eltwise test_pool test_fc test_batchnorm test_runtime test_conv; do
  RN50CL_TEST_SMALL=1 RN50CL_NO_CACHE=1 "$OCLGRIND" --check-api --data-races --log "$T/$t.log" \
    "$DIR/$t" >"$T/$t.out" 2>&1
  rc=$?
  reports=$(grep -c . "$T/$t.log" 2>/dev/null || true)
  echo "$t on Oclgrind: $(grep -E '^test_.*passed' "$T/$t.out" || echo 'no result'), exit $rc, ${reports:-0} report lines"
  if [ "$rc" -ne 0 ] || [ "${reports:-0}" -ne 0 ]; then
    fail=1
    grep FAIL "$T/$t.out" | head -20
    head -60 "$T/$t.log" 2>/dev/null
  fi
done
[ "$fail" -eq 0 ]
