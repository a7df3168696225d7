#!/usr/bin/env bash
# Builds rn50cl and the host-side tests with AddressSanitizer and UndefinedBehaviorSanitizer (every
# finding fatal) in a build folder of their own, and runs them: the readers and writers (CIFAR,
# safetensors, npy, png, json), data loading and augmentation, the environment, the program cache,
# device selection and the whole cli_train script (training, checkpoints, every bad input) on the
# first device. Any sanitizer report fails the run. Usage: tests/sanitize.sh [BUILD_DIR]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$SRC/build-sanitize}
FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
HOST_TESTS=(test_augment test_cifar test_download test_env test_json test_loader test_npy test_png
            test_safetensors test_program_cache)
# One device only: the OpenCL drivers themselves are not instrumented, the host code is the same.
cmake -S "$SRC" -B "$B" -DRN50CL_WERROR=ON -DCMAKE_C_FLAGS="$FLAGS" \
      -DCMAKE_EXE_LINKER_FLAGS="$FLAGS" -DRN50CL_TEST_DEVICES=0 >/dev/null
cmake --build "$B" -j2 --target rn50cl "${HOST_TESTS[@]}"
# Reports also go to files, so that one from a process whose exit status a script ignores counts.
R="$B/sanitizer-reports"
rm -rf "$R" && mkdir -p "$R"
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:log_path=$R/asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$R/ubsan
# Thread-local storage is not scanned for pointers (rn50cl keeps none there): with the OpenCL
# runtime's many dlopen'ed kernel libraries glibc resizes its TLS table, and LeakSanitizer's
# tracer then read a stale dynamic-TLS range and crashed at exit (GCC 12's libasan). The one
# allocation only TLS points to, glibc's own table of loaded objects, is suppressed, and the list
# of suppressions used is not printed: LSan writes it to a report file, which fails the run. On
# the development machine (2026-12-04) every process that loaded Intel's runtime matched the
# suppression at noon, also at the previous commit, and none did in a fresh-clone run at 04:00
# (cause not found).
export LSAN_OPTIONS=use_tls=0:print_suppressions=0:suppressions=$SRC/tests/lsan.supp
re=$(IFS='|'; echo "${HOST_TESTS[*]}")
ctest --test-dir "$B" --output-on-failure -R "^(($re)(@0)?|cli_devices|cli_train@0)\$"
if compgen -G "$R/*" >/dev/null; then
  head -n 40 "$R"/*
  echo "sanitize: sanitizer reports in $R"
  exit 1
fi
echo "sanitize: no sanitizer report"
