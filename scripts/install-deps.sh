#!/usr/bin/env bash
# Installs the Debian packages onestep builds with, plus any named as arguments (idempotent; skips
# apt when all are present).
set -euo pipefail

# g++ brings libasan, libubsan and liblsan (through libgcc-N-dev) for scripts/sanitize.sh.
packages=(
  cmake ninja-build g++ pkg-config
  libeigen3-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev zlib1g-dev libpng-dev
  dataset-fashion-mnist
  libopenmpi-dev openmpi-bin  # -DONESTEP_MPI=ON builds and their tests (docs/DISTRIBUTED.md)
  python3  # the results-table tests (tests/docs)
)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The reference safetensors library, for ctest reference_safetensors (skipped, and counted as
# skipped, where it cannot be installed).
python_reference() {
  command -v python3 >/dev/null || return 0
  python3 -c 'import numpy, safetensors' 2>/dev/null && return 0
  python3 -m pip install --quiet --disable-pip-version-check safetensors numpy >/dev/null 2>&1 ||
    echo "install-deps: could not pip install safetensors numpy; ctest reference_safetensors will be skipped" >&2
}

if [ ${#missing[@]} -eq 0 ]; then
  python_reference
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo for: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
python_reference
