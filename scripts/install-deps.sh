#!/usr/bin/env bash
# Installs everything rn50cl needs to build, test and run on Debian 12 (idempotent: already
# installed packages are left alone). Runs as root, or through sudo otherwise.
# --with-torch adds Debian's CPU PyTorch + torchvision, which the parity test and the PyTorch
# comparison benchmark use.
set -euo pipefail
PKGS=(build-essential cmake pkg-config ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
      libclblast-dev clinfo libcurl4-openssl-dev libarchive-dev zlib1g-dev python3 python3-numpy)
for arg in "$@"; do
  case "$arg" in
    --with-torch) PKGS+=(python3-torch python3-torchvision) ;;
    *) echo "install-deps: unknown option $arg (known: --with-torch)" >&2; exit 2 ;;
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
