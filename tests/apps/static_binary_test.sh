#!/usr/bin/env bash
# The onestep binary of an ONESTEP_STATIC build (docs/API.md, "Static binaries"): a CPU build is
# fully static; a CUDA build needs cuBLAS and glibc's own libraries and nothing else (libstdc++,
# libpng, zlib, fmt and cudart are linked in).
# Usage: static_binary_test.sh /path/to/onestep ON|OFF (CUDA)
set -uo pipefail
onestep="$1" cuda="$2"
if [ "$cuda" = "OFF" ]; then
  out="$(ldd "$onestep" 2>&1)"
  grep -q "not a dynamic executable" <<<"$out" || { echo "FAIL: ldd $onestep: $out"; exit 1; }
  echo "ok: ldd: $out"
else
  needed="$(readelf -d "$onestep" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
  glibc='^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|librt\.so\.1|libpthread\.so\.0|libgcc_s\.so\.1|ld-linux-x86-64\.so\.2)$'
  others="$(grep -Ev "$glibc" <<<"$needed" | grep -Ev '^libcublas(Lt)?\.so\.[0-9]+$')"
  [ -z "$others" ] || { echo "FAIL: $onestep needs shared libraries beyond cuBLAS and glibc: $others"; exit 1; }
  echo "ok: shared libraries needed: $(tr '\n' ' ' <<<"$needed")"
fi
# And it runs.
"$onestep" --version || { echo "FAIL: $onestep --version"; exit 1; }
