#!/usr/bin/env bash
# Drives the real rn50cl binary as a user would: help/version, --list-devices (table and JSON),
# device selection by index/type/name/env, and every bad selection's exit code and message.
set -u
BIN=${RN50CL_BIN:?RN50CL_BIN not set}
PY=${RN50CL_PYTHON:-python3}
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
expect 0 'usage: rn50cl' "--help prints usage" -- "$BIN" --help
expect 0 '^rn50cl [0-9]+\.[0-9]+\.[0-9]+' "--version prints a version" -- "$BIN" --version
expect 0 'CPU|GPU|ACCEL' "--list-devices prints a table" -- "$BIN" --list-devices
json=$("$BIN" --list-devices --json)
if "$PY" -c 'import json,sys; d=json.load(sys.stdin); assert len(d)>=1 and all(k in d[0] for k in ("index","name","type","compute_units","global_mem_bytes","max_alloc_bytes","local_mem_bytes","opencl_c_version","fp16","fp64","driver_version"))' <<<"$json"; then ok; else bad "--list-devices --json is valid JSON with every field"; fi
name=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["name"])' <<<"$json")
type=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["type"].lower())' <<<"$json")
part=${name:1:5}
expect 0 '^device 0:' "--device 0 selects device 0" -- "$BIN" info --device 0
expect 0 '^device [0-9]+:' "--device $type selects by type" -- "$BIN" info --device "$type"
expect 0 "^device [0-9]+: .*${part}" "--device by name part '$part'" -- "$BIN" info --device "$part"
expect 0 '^device 0:' "RN50CL_DEVICE=0 selects device 0" -- env RN50CL_DEVICE=0 "$BIN" info
expect 2 'out of range.*Available: 0 =' "--device 99 is refused with the device list" -- "$BIN" info --device 99
expect 2 'RN50CL_DEVICE 99 is out of range' "RN50CL_DEVICE=99 is refused naming the variable" -- env RN50CL_DEVICE=99 "$BIN" info
expect 2 'matches no device name' "--device by an unknown name is refused" -- "$BIN" info --device no-such-device-xyz
if [ "$type" != gpu ]; then
  expect 2 'matches no device of that type' "--device gpu without a GPU is refused" -- "$BIN" info --device gpu
fi
empty=$(mktemp -d)
expect 2 'no OpenCL platform.*pocl-opencl-icd' "no ICD installed: one sentence naming the package" -- env OCL_ICD_VENDORS="$empty" "$BIN" --list-devices
expect 2 'no OpenCL platform' "no ICD installed: info refused too" -- env OCL_ICD_VENDORS="$empty" "$BIN" info
expect 2 "unknown option '--bogus'.*usage" "unknown option rejected with usage" -- "$BIN" --bogus
expect 2 "unknown command 'bogus'" "unknown command rejected" -- "$BIN" bogus
expect 2 "unknown option '--nope'" "unknown subcommand option rejected" -- "$BIN" info --nope
# A kernel that fails to build: the file name and the compiler's log, non-zero exit.
kdir=$(mktemp -d)
cp "$RN50CL_SOURCE_DIR"/cl/*.cl "$kdir"/
printf '\n__kernel void rn_broken_fwd(__global float *x) { x[0] = undefined_name; }\n' >> "$kdir/util.cl"
expect 1 'util.cl failed to build.*undefined_name' "a failed program build prints the file and build log" -- env RN50CL_KERNEL_DIR="$kdir" RN50CL_NO_CACHE=1 "$BIN" info
rm -rf "$empty" "$kdir"
echo "cli_devices: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
