#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (address and undefined-behaviour
# sanitizers) in a build folder of their own and runs each for a while, starting from its
# committed corpus (tests/fuzz/corpus/<name>: seeds and every input that once crashed it). Any
# crash, sanitizer report or leak fails the run; the input is left in the build folder.
# Usage: tests/fuzz.sh [SECONDS_EACH (default 20)] [BUILD_DIR]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-20}
B=${2:-$SRC/build-fuzz}
# (-Wno-unknown-warning-option: the project's gcc-only -Wno-format-truncation)
FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
FLAGS+=" -fno-omit-frame-pointer -Wno-unknown-warning-option"
CC=clang cmake -S "$SRC" -B "$B" -DRN50CL_WERROR=ON -DRN50CL_FUZZ=ON -DCMAKE_C_FLAGS="$FLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
HARNESSES=(cifar safetensors tuning json weights)
cmake --build "$B" -j2 --target "${HARNESSES[@]/#/fuzz_}"
for h in "${HARNESSES[@]}"; do
  # new inputs go to a scratch corpus; the committed one is only read. -close_fd_mask=2 silences
  # the readers' "rn50cl: error:" sentences; libFuzzer and the sanitizers still report.
  work="$B/fuzz-corpus/$h"
  mkdir -p "$work" "$B/fuzz-crashes/$h"
  echo "fuzz_$h: ${SECS}s"
  log="$B/fuzz-$h.log"
  rc=0
  "$B/tests/fuzz/fuzz_$h" -max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -close_fd_mask=2 -artifact_prefix="$B/fuzz-crashes/$h/" "$work" \
    "$SRC/tests/fuzz/corpus/$h" >"$log" 2>&1 || rc=$?
  grep -E "^stat::number_of_executed_units" "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$log"
    echo "fuzz_$h failed (exit $rc): the input is in $B/fuzz-crashes/$h"
    exit 1
  fi
done
echo "fuzz: no crash in ${#HARNESSES[@]} harnesses"
