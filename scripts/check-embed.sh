#!/usr/bin/env bash
# The library as a consumer sees it: installs a built onestep tree to a prefix, then configures,
# builds and runs examples/embed against that prefix alone (no Eigen, no onestep sources on its
# include path).
# Usage: scripts/check-embed.sh [BUILD_DIR]   (default: ${BUILD_DIR:-build}, already built)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-${BUILD_DIR:-$root/build}}" && pwd)"
prefix="$build/embed/prefix"
consumer="$build/embed/example"
rm -rf "$build/embed"

cmake --install "$build" --prefix "$prefix" >/dev/null
echo "check-embed: installed to $prefix:"
(cd "$prefix" && find . -type f | sed 's|^\./||' | awk -F/ '{print $1 "/" $2}' | sort | uniq -c)

cmake -S "$root/examples/embed" -B "$consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$consumer"
mkdir -p "$build/embed/run"
"$consumer/train_and_sample" "$build/embed/run"
