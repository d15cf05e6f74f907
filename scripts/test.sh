#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test that needs no GPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "${BUILD_DIR:-$root/build}"
# Two test processes at a time, each with every core: the engine's pool gives way to the other
# process (docs/PERFORMANCE.md, "A busy machine"), so this takes 155 s on 2 cores against 218 s
# one at a time (under OpenMP, two at a time had been 3x slower).
ctest --output-on-failure --label-exclude gpu -j2
