#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, with ASan and UBSan) and runs each for a set
# time, starting from the committed seed corpus. Prints each target's run count and result and
# exits 1 if any input crashed; crashing inputs are left in $BUILD_DIR/fuzz-out/<target>/ (turn
# them into regression tests by copying them to fuzz/regressions/<target>/).
#
# Usage: scripts/fuzz.sh [TARGET...]        (default: every target in fuzz/CMakeLists.txt)
# Environment: FUZZ_SECONDS per target (default 60), BUILD_DIR (default build-fuzz), JOBS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-60}"
"$root/scripts/install-deps.sh" clang libclang-rt-dev libomp-dev

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  read -r -a targets < <(sed -n 's/^set(ONESTEP_FUZZ_TARGETS \(.*\))$/\1/p' "$root/fuzz/CMakeLists.txt")
fi

# Tests and apps are left out: the fuzz build compiles only the libraries and the fuzzers.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DONESTEP_FUZZ=ON \
  -DONESTEP_BUILD_TESTS=OFF -DONESTEP_BUILD_APPS=OFF -DONESTEP_BUILD_BENCH=OFF \
  -DONESTEP_STATIC=OFF -DONESTEP_INSTALL=OFF >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "${targets[@]/%/_fuzzer}"

# One thread: the parsers are serial, and pool workers would only add noise to coverage.
export ONESTEP_THREADS=1
failed=0
summary=()
for t in "${targets[@]}"; do
  out="$build/fuzz-out/$t"
  mkdir -p "$out/corpus"
  log="$out/fuzz.log"
  # New inputs go to the working corpus in the build tree; the committed seeds are read only.
  # -malloc_limit_mb: no input of a few KiB has a reason to allocate 256 MB at once; a header
  # that makes the parser try is a bug even when the machine could afford it.
  set +e
  "$build/fuzz/${t}_fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -malloc_limit_mb=256 -print_final_stats=1 -artifact_prefix="$out/" \
    "$out/corpus" "$root/fuzz/corpus/$t" >"$log" 2>&1
  code=$?
  set -e
  runs=$(grep -oE '^#[0-9]+[[:space:]]+DONE' "$log" | grep -oE '[0-9]+' | tail -1)
  if [ "$code" -eq 0 ]; then
    summary+=("$(printf '%-14s %10s runs in %ss, no crash' "$t" "${runs:-?}" "$seconds")")
  else
    failed=1
    summary+=("$(printf '%-14s CRASHED (exit %s): see %s and %s/crash-*' "$t" "$code" "$log" "$out")")
  fi
done
printf '%s\n' "${summary[@]}"
exit "$failed"
