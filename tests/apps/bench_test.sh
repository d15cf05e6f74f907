#!/usr/bin/env bash
# onestep bench: each workload runs on the small fmnist-cpu network and prints one JSON line
# (the one scripts/bench-compare.sh reads) with the fields it needs, self-consistent: the
# median between min and max, a real peak memory, the parameter count of the network.
# Usage: bench_test.sh /path/to/onestep
set -uo pipefail
onestep="$1"
fail=0

# field LINE NAME: the value of "NAME": in the JSON line (numbers and strings)
field() { sed -nE "s/.*\"$2\": \"?([^,\"}]*)\"?[,}].*/\1/p" <<<"$1"; }
check() {  # check DESCRIPTION CONDITION...
  local what="$1"; shift
  if ! "$@"; then echo "FAIL: $what"; fail=1; bad=1; fi
}
less_equal() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
positive() { awk -v a="$1" 'BEGIN { exit !(a + 0 > 0) }'; }

for workload in teacher distill generate adam; do
  out="$("$onestep" bench --workload "$workload" --config fmnist-cpu --batch 2 --steps 10 \
         --warmup 1 --threads 1 2>/dev/null)" || { echo "FAIL: bench $workload exited $?"; fail=1; continue; }
  if [[ "$(wc -l <<<"$out")" -ne 1 || "$out" != "{"*"}" ]]; then
    echo "FAIL: bench $workload printed '$out', not one JSON line"; fail=1; continue
  fi
  bad=0
  median="$(field "$out" median_ms)" min="$(field "$out" min_ms)" max="$(field "$out" max_ms)"
  check "$workload: impl $(field "$out" impl)" test "$(field "$out" impl)" = onestep
  check "$workload: workload $(field "$out" workload)" test "$(field "$out" workload)" = "$workload"
  check "$workload: batch" test "$(field "$out" batch)" = 2
  check "$workload: steps" test "$(field "$out" steps)" = 10
  check "$workload: parameters $(field "$out" parameters) (fmnist-cpu has 887329)" \
    test "$(field "$out" parameters)" = 887329
  check "$workload: min $min > 0" positive "$min"
  check "$workload: min $min <= median $median" less_equal "$min" "$median"
  check "$workload: median $median <= max $max" less_equal "$median" "$max"
  check "$workload: peak memory" positive "$(field "$out" peak_memory_bytes)"
  [[ $bad == 0 ]] && echo "ok: $workload median $median ms"
done
# --precision bf16 is timed and reported as such.
out="$("$onestep" bench --workload generate --config fmnist-cpu --batch 2 --steps 10 --warmup 1 \
       --threads 1 --precision bf16 2>/dev/null)"
if [[ "$(field "$out" precision)" == bf16 ]] && positive "$(field "$out" median_ms)"; then
  echo "ok: generate in bf16"
else
  echo "FAIL: bench --precision bf16 printed '$out'"; fail=1
fi
exit $fail
