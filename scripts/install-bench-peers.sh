#!/usr/bin/env bash
# The PyTorch builds scripts/bench-compare.sh compares onestep with (docs/PERFORMANCE.md): Debian's
# python3-torch (apt) and the newest torch from PyPI in a virtual environment, .venv-torch (pip;
# the PyPI wheel brings its CUDA libraries too, about 4 GB, though the CPU rows do not use them).
# Not part of the build or the tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
$sudo apt-get install -y python3-torch python3-numpy
venv="${VENV:-$root/.venv-torch}"
python3 -m venv "$venv"
"$venv/bin/pip" install --upgrade torch numpy
"$venv/bin/python" -c 'import torch; print("PyTorch", torch.__version__, "in", __import__("sys").prefix)'
