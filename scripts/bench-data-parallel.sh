#!/usr/bin/env bash
# Data-parallel throughput on this machine (docs/DISTRIBUTED.md, "Measured here"): `onestep bench`
# of a teacher step and a distillation iteration at one global batch as 1 rank x 1 thread, 1 rank
# x all threads, and N ranks x 1 thread (mpirun), then bench/all_reduce: the cost of averaging
# the gradients of each network size over the N ranks. Needs a build with -DONESTEP_MPI=ON (made
# in build-mpi when missing). Run it on a quiet machine: every configuration uses every core.
#   scripts/bench-data-parallel.sh [--ranks N] [--batch B] [--configs "fmnist-cpu fmnist"]
#                                  [--steps S] [--update-docs]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/script_lib.sh"
build="${BUILD_DIR:-$root/build-mpi}"
ranks="$(nproc)" batch=64 configs="fmnist-cpu fmnist" steps=10 update_docs=0
parse_flags bench-data-parallel.sh "ranks batch configs steps" "update_docs" "$@"
if [ ! -x "$build/bench/all_reduce" ]; then
  BUILD_DIR="$build" "$root/scripts/build.sh" -DONESTEP_MPI=ON
fi
onestep="$build/apps/onestep"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$root" diff --quiet HEAD -- 2>/dev/null || commit="$commit+uncommitted"
threads="$(nproc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi=(mpirun --oversubscribe --bind-to none -np "$ranks" -x ONESTEP_THREADS)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# field JSON KEY: a number from onestep bench's JSON line.
field() { "$python" -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

table="$out/table.md"
{
  echo "<!-- data-parallel-bench:begin -->"
  echo "Made by \`scripts/bench-data-parallel.sh --ranks $ranks --batch $batch --configs \"$configs\" --steps $steps\` at commit $commit, on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))."
  echo "Global batch $batch; images/s = batch / median step time of rank 0 (gradient averaging included)."
  echo
  echo "| workload | network | 1 rank x 1 thread | 1 rank x $threads threads | $ranks ranks x 1 thread | $ranks ranks vs 1 rank x $threads threads |"
  echo "|---|---|---|---|---|---|"
} >"$table"
for config in $configs; do
  for workload in teacher distill; do
    args=(bench --workload "$workload" --config "$config" --batch "$batch" --steps "$steps")
    one="$(ONESTEP_THREADS=1 "$onestep" "${args[@]}" 2>/dev/null)"
    all="$(ONESTEP_THREADS="$threads" "$onestep" "${args[@]}" 2>/dev/null)"
    many="$(ONESTEP_THREADS=1 "${mpi[@]}" "$onestep" "${args[@]}" 2>/dev/null | grep '^{')"
    [ "$(field "$many" ranks)" = "$ranks" ] || { echo "bench under mpirun did not run $ranks ranks" >&2; exit 1; }
    rate() { awk -v b="$batch" -v ms="$(field "$1" median_ms)" 'BEGIN { printf "%.1f", b / ms * 1000 }'; }
    r1="$(rate "$one")" rall="$(rate "$all")" rmany="$(rate "$many")"
    ratio="$(awk -v a="$rmany" -v b="$rall" 'BEGIN { printf "%.2f", a / b }')"
    echo "| $workload | $config ($(field "$one" parameters) parameters) | $r1 img/s | $rall img/s | $rmany img/s | $ratio |" >>"$table"
    echo "$workload $config: $r1 / $rall / $rmany img/s" >&2
  done
done
{
  echo
  echo "Averaging the gradients over $ranks ranks on this machine (\`mpirun -np $ranks build-mpi/bench/all_reduce\`, Open MPI shared memory):"
  echo
  ONESTEP_THREADS=1 "${mpi[@]}" "$build/bench/all_reduce" 2>/dev/null
  echo
  echo "Expected cost per step on 8 ranks, from the parameter counts (f32 gradients) and a ring"
  echo "all-reduce's 2 (N - 1) / N x 4 x parameters bytes per rank, at each link's bus bandwidth"
  echo "(computed by this script, not measured; a distillation iteration averages the generator's"
  echo "and the fake network's gradients: twice a teacher step):"
  echo
  echo "| network | parameters | MB per rank per teacher step | 10 GbE (1.25 GB/s) | 100 Gb/s InfiniBand (12.5 GB/s) | PCIe 4.0 x16 (25 GB/s) | NVLink 4, H100 SXM (450 GB/s) |"
  echo "|---|---|---|---|---|---|---|"
  for net in "fmnist 6987585" "cifar10 55735299"; do
    set -- $net
    awk -v name="$1" -v p="$2" 'BEGIN {
      bytes = 2 * 7 / 8 * 4 * p
      printf "| %s | %.1f M | %.0f |", name, p / 1e6, bytes / 1e6
      n = split("1.25 12.5 25 450", bw, " ")
      for (i = 1; i <= n; ++i) printf " %.1f ms |", bytes / (bw[i] * 1e9) * 1e3
      printf "\n"
    }'
  done
  echo "<!-- data-parallel-bench:end -->"
} >>"$table"
cat "$table"

if [ "$update_docs" = 1 ]; then
  "$python" - "$root/docs/DISTRIBUTED.md" "$table" <<'PY'
import re, sys
doc, table = open(sys.argv[1]).read(), open(sys.argv[2]).read().strip()
pattern = re.compile(r'<!-- data-parallel-bench:begin -->.*<!-- data-parallel-bench:end -->', re.S)
assert pattern.search(doc), "docs/DISTRIBUTED.md has no data-parallel-bench markers"
open(sys.argv[1], 'w').write(pattern.sub(lambda m: table, doc))
PY
  echo "wrote the table into docs/DISTRIBUTED.md"
fi
