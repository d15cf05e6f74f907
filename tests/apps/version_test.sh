#!/usr/bin/env bash
# onestep --version: one line with the version, the git commit the build was configured from
# ("unknown" outside a git checkout), the build type, whether CUDA is compiled in and how the CPU
# multiplies bf16 (--precision bf16): AVX512_BF16 instructions, or float32 multiply-adds, and
# which data parallelism it has (docs/DISTRIBUTED.md).
# Usage: version_test.sh /path/to/onestep VERSION BUILD_TYPE on|off|emulated off|MPI|"MPI + NCCL"
set -uo pipefail
onestep="$1" version="$2" build_type="$3" cuda="$4" parallel="$5"
out="$("$onestep" --version 2>&1)" || { echo "FAIL: --version exited $?: $out"; exit 1; }
pattern="^onestep ${version//./\\.} \(git ([0-9a-f]{12}|unknown), ${build_type} build, CUDA ${cuda}, CPU bf16 (AVX512_BF16|via float32), data parallel ${parallel//+/\\+}\)$"
if [[ "$(wc -l <<<"$out")" -ne 1 || ! "$out" =~ $pattern ]]; then
  echo "FAIL: --version printed '$out', expected a line matching $pattern"
  exit 1
fi
echo "ok: $out"
