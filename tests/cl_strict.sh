#!/usr/bin/env bash
# Compiles every kernel source in cl/ as strict OpenCL C 1.2 (clang, -pedantic, warnings as
# errors), the language rn50cl builds its programs in: constructs PoCL and Intel's runtime accept
# but the standard leaves out fail here, not first on a user's device. NVIDIA's compiler refused
# gemm.cl's variadic macros on an H200 (2026-12-04), which both CPU runtimes had built for months.
# Usage: cl_strict.sh CLANG CL_DIR
set -u
CLANG=$1
DIR=$2
fail=0 n=0
for f in "$DIR"/*.cl; do
  n=$((n + 1))
  if ! out=$("$CLANG" -x cl -cl-std=CL1.2 -Xclang -finclude-default-header -fsyntax-only \
    -pedantic -Werror "$f" 2>&1); then
    echo "FAIL: $(basename "$f") is not strict OpenCL C 1.2:"
    echo "$out" | head -20
    fail=$((fail + 1))
  fi
done
echo "cl_strict: $((n - fail)) of $n kernel sources compile as strict OpenCL C 1.2"
[ "$n" -gt 0 ] && [ "$fail" -eq 0 ]
