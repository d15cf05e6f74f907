#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test that needs no GPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "${BUILD_DIR:-$root/build}"
# One test process at a time: each already uses every core, and two OpenMP processes sharing
# two cores stall in barriers (3x slower here).
ctest --output-on-failure --label-exclude gpu
