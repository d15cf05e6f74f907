#!/usr/bin/env bash
# How much a training step slows down beside one competing CPU-bound process (docs/PERFORMANCE.md,
# "A busy machine"):
#
#   scripts/bench-contention.sh [LABEL=ONESTEP[,VAR=VALUE...] ...]
#
# For each variant (default: this build's onestep) and workload, runs `onestep bench` alone and
# beside a one-thread busy loop, alternately, REPEATS times each, and prints the median step time
# of each and their ratio. Two processes on two cores: the fair slowdown is 2x when the step uses
# both cores (the busy loop is owed one). A variant may set environment variables for onestep,
# e.g. `spin0=build/apps/onestep,ONESTEP_SPIN_US=0`.
# Environment: THREADS (2), REPEATS (3), STEPS (10), WARMUP (2), PYTHON (python3),
# ROWS (default "teacher fmnist-cpu 32;distill fmnist-cpu 32;generate fmnist-cpu 32"),
# JSON_OUT (a file to which every raw JSON line is appended, with variant and busy fields).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads="${THREADS:-2}"
repeats="${REPEATS:-3}"
steps="${STEPS:-10}"
warmup="${WARMUP:-2}"
python="${PYTHON:-python3}"
json_out="${JSON_OUT:-}"
IFS=';' read -r -a rows <<<"${ROWS:-teacher fmnist-cpu 32;distill fmnist-cpu 32;generate fmnist-cpu 32}"
variants=("$@")
[[ ${#variants[@]} -eq 0 ]] && variants=("onestep=$root/build/apps/onestep")

busy_pid=""
stop_busy() {
  if [[ -n "$busy_pid" ]]; then
    kill "$busy_pid" 2>/dev/null || true
    wait "$busy_pid" 2>/dev/null || true
    busy_pid=""
  fi
}
trap stop_busy EXIT INT TERM

# run_bench VARIANT WORKLOAD CONFIG BATCH BUSY -> median ms (and the JSON line to JSON_OUT)
run_bench() {
  local spec="${1#*=}" label="${1%%=*}"
  local binary="${spec%%,*}" settings=()
  [[ "$spec" == *,* ]] && IFS=',' read -r -a settings <<<"${spec#*,}"
  [[ -x "$binary" ]] || { echo "bench-contention: no executable $binary" >&2; exit 2; }
  local line
  line="$(env ${settings[@]+"${settings[@]}"} "$binary" bench --workload "$2" --config "$3" \
    --batch "$4" --threads "$threads" --steps "$steps" --warmup "$warmup" 2>/dev/null | tail -n 1)"
  [[ -n "$json_out" ]] && "$python" -c 'import json,sys
d = json.loads(sys.argv[1]); d["variant"] = sys.argv[2]; d["settings"] = sys.argv[3]
d["beside_busy_process"] = sys.argv[4] == "1"; print(json.dumps(d))' \
    "$line" "$label" "${settings[*]+${settings[*]}}" "$5" >>"$json_out"
  "$python" -c 'import json,sys; print(json.loads(sys.argv[1])["median_ms"])' "$line"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "onestep bench alone and beside a one-thread busy loop: $threads threads, median of $repeats runs" \
  "(each the median of $steps steps after $warmup warm-up), $(nproc) cores"
printf '\n| %-12s | %-8s | %-10s | %5s | %9s | %17s | %8s |\n' variant workload config batch \
  "alone ms" "beside busy ms" slowdown
printf '|%s|%s|%s|%s|%s|%s|%s|\n' -------------- ---------- ------------ ------- ----------- \
  ------------------- ----------
for row in "${rows[@]}"; do
  read -r workload config batch <<<"$row"
  declare -A alone=() busy=()
  # Variants interleaved within each repeat, so that a slow phase of the machine hits all.
  for ((r = 0; r < repeats; ++r)); do
    for v in "${!variants[@]}"; do
      alone[$v]+=" $(run_bench "${variants[$v]}" "$workload" "$config" "$batch" 0)"
      bash -c 'while :; do :; done' &
      busy_pid=$!
      busy[$v]+=" $(run_bench "${variants[$v]}" "$workload" "$config" "$batch" 1)"
      stop_busy
    done
  done
  for v in "${!variants[@]}"; do
    # shellcheck disable=SC2086
    a="$(median ${alone[$v]})" b="$(median ${busy[$v]})"
    printf '| %-12s | %-8s | %-10s | %5s | %9.1f | %17.1f | %7.2fx |\n' "${variants[$v]%%=*}" \
      "$workload" "$config" "$batch" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { print b / a }')"
  done
  unset alone busy
done
