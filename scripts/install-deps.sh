#!/usr/bin/env bash
# Installs everything rn50cl needs to build, test and run on Debian 12 (idempotent: already
# installed packages are left alone). Runs as root, or through sudo otherwise.
# --with-torch adds Debian's CPU PyTorch + torchvision, which the parity test and the PyTorch
# comparison benchmark use.
# --with-mpi adds Open MPI (libopenmpi-dev, openmpi-bin): CMake then builds data-parallel training
# (`mpirun -np N rn50cl train`), and its test runs.
# --with-intel-opencl adds Intel's OpenCL CPU runtime (PyPI wheels, unpacked into /opt/intel-opencl
# and registered with the ICD loader): a second, independent OpenCL compiler to check kernels on.
# --with-mindspore adds the MindSpore CPU wheel (about 2.8 GB installed) in its own virtual
# environment, /opt/rn50cl-mindspore, for the optional comparison test against real MindSpore.
# --with-checks adds Oclgrind (the kernels@oclgrind test) and clang with its libFuzzer runtime
# (tests/fuzz.sh).
set -euo pipefail
INTEL_OCL=0
MINDSPORE=0
PKGS=(build-essential cmake pkg-config ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
      libclblast-dev clinfo libcurl4-openssl-dev libarchive-dev zlib1g-dev python3 python3-numpy)
for arg in "$@"; do
  case "$arg" in
    --with-torch) PKGS+=(python3-torch python3-torchvision) ;;
    --with-mpi) PKGS+=(libopenmpi-dev openmpi-bin) ;;
    --with-intel-opencl) INTEL_OCL=1; PKGS+=(python3-pip) ;;
    --with-mindspore) MINDSPORE=1; PKGS+=(python3-venv) ;;
    --with-checks) PKGS+=(oclgrind clang libclang-rt-14-dev) ;;
    *) echo "install-deps: unknown option $arg (known: --with-torch, --with-mpi," \
            "--with-intel-opencl, --with-mindspore, --with-checks)" >&2
       exit 2 ;;
  esac
done
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi

# Pinned: the runtime is built against this TBB, and a new release may lay its wheels out anew.
INTEL_PREFIX=/opt/intel-opencl
INTEL_ICD=/etc/OpenCL/vendors/intel-cpu.icd
INTEL_WHEELS=(intel-opencl-rt==2026.2.0 tbb==2023.2.0 intel-cmplr-lib-rt==2026.2.0)

# The three wheels' lib folders go into one $INTEL_PREFIX/lib: libintelocl.so's RUNPATH is $ORIGIN,
# so it finds its TBB and compiler libraries there without ld.so.conf or LD_LIBRARY_PATH, and they
# never shadow Debian's libtbb12 or the ICD loader for other programs (Intel's own libOpenCL is left
# out for that reason). Staged beside the prefix and moved in whole, so a failed run leaves nothing.
install_intel_opencl() {
  local lib="$INTEL_PREFIX/lib/libintelocl.so" stage="$INTEL_PREFIX.new" tmp
  if [ "$(cat "$INTEL_PREFIX/wheels" 2>/dev/null)" = "${INTEL_WHEELS[*]}" ] &&
     [ "$(cat "$INTEL_ICD" 2>/dev/null)" = "$lib" ]; then
    echo "install-deps: Intel OpenCL CPU runtime present in $INTEL_PREFIX"
    return
  fi
  if [ "$(uname -m)" != x86_64 ]; then
    echo "install-deps: Intel's OpenCL CPU runtime exists for x86-64 only, not $(uname -m)" >&2
    exit 1
  fi
  tmp="$(mktemp -d)"
  echo "install-deps: downloading ${INTEL_WHEELS[*]}"
  if ! python3 -m pip download -q --disable-pip-version-check --retries 2 --no-deps \
       -d "$tmp" "${INTEL_WHEELS[@]}" >"$tmp/pip.log" 2>&1; then
    echo "install-deps: could not download Intel's OpenCL CPU runtime wheels from PyPI" \
         "(pip: $(grep -m1 ERROR "$tmp/pip.log" || tail -n1 "$tmp/pip.log"))" >&2
    rm -rf "$tmp"
    exit 1
  fi
  $SUDO rm -rf "$stage"
  $SUDO mkdir -p "$stage/lib" "$stage/share"
  for w in "$tmp"/*.whl; do $SUDO python3 -m zipfile -e "$w" "$stage/whl"; done
  rm -rf "$tmp"
  $SUDO cp -a "$stage"/whl/*.data/data/lib/. "$stage/lib/"
  $SUDO cp -a "$stage"/whl/*.data/data/share/. "$stage/share/"
  $SUDO rm -rf "$stage/whl" "$stage"/lib/libOpenCL.so*
  # Wheels hold no symlinks: each library came as up to three identical copies (about 300 MB).
  for v in "$stage"/lib/*.so.*; do
    local p="$v"
    while [[ "$p" == *.so.* ]]; do
      p="${p%.*}"
      if [ -f "$p" ] && [ ! -L "$p" ] && cmp -s "$p" "$v"; then $SUDO ln -sf "${v##*/}" "$p"; fi
    done
  done
  echo "${INTEL_WHEELS[*]}" | $SUDO tee "$stage/wheels" >/dev/null
  $SUDO rm -rf "$INTEL_PREFIX"
  $SUDO mv "$stage" "$INTEL_PREFIX"
  $SUDO mkdir -p "$(dirname "$INTEL_ICD")"
  echo "$lib" | $SUDO tee "$INTEL_ICD" >/dev/null
  echo "install-deps: Intel OpenCL CPU runtime installed in $INTEL_PREFIX ($INTEL_ICD)"
}
if [ "$INTEL_OCL" -eq 1 ]; then install_intel_opencl; fi

# A venv of its own: MindSpore pulls numpy 2, which Debian's PyTorch is not built for. The marker
# is written last, so an interrupted install is redone.
MINDSPORE_VENV=/opt/rn50cl-mindspore
MINDSPORE_WHEEL=mindspore==2.10.0
install_mindspore() {
  if [ "$(cat "$MINDSPORE_VENV/wheel" 2>/dev/null)" = "$MINDSPORE_WHEEL" ]; then
    echo "install-deps: MindSpore present in $MINDSPORE_VENV"
    return
  fi
  echo "install-deps: installing $MINDSPORE_WHEEL into $MINDSPORE_VENV (about 800 MB download)"
  $SUDO rm -rf "$MINDSPORE_VENV"
  $SUDO python3 -m venv "$MINDSPORE_VENV"
  $SUDO "$MINDSPORE_VENV/bin/python" -m pip install -q --disable-pip-version-check "$MINDSPORE_WHEEL"
  echo "$MINDSPORE_WHEEL" | $SUDO tee "$MINDSPORE_VENV/wheel" >/dev/null
}
if [ "$MINDSPORE" -eq 1 ]; then install_mindspore; fi
