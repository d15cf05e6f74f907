#!/usr/bin/env bash
# Installs dependencies, builds, and runs the main job on the bundled defaults.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
"${BUILD_DIR:-$root/build}/apps/onestep" demo --out "$root/runs/demo" "$@"
