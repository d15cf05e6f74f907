#!/usr/bin/env bash
# onestep next to PyTorch on the same SongUNet workloads, in one run, one table
# (docs/PERFORMANCE.md):
#
#   scripts/bench-compare.sh            CPU rows (2 threads; a few minutes)
#   scripts/bench-compare.sh --gpu      GPU rows: PyTorch eager, torch.compile, compile + CUDA graphs
#
# Each row runs `onestep bench` and bench/torch_reference.py with the same workload, network,
# batch and thread count, alternately (so slow phases of a noisy machine hit both), and prints
# median ms (>= 10 steps after warm-up), the ratio onestep / PyTorch and each one's peak memory.
# On the CPU each row is also run against the newest PyTorch from PyPI, in fp32 and (on a CPU
# with avx512_bf16) with torch.autocast("cpu", dtype=torch.bfloat16), when PYTHON_LATEST names
# its Python (default .venv-torch/bin/python, made by scripts/install-bench-peers.sh).
# Environment: BUILD_DIR (default build; built if missing, with -DONESTEP_CUDA=ON for --gpu),
# PYTHON (default /usr/bin/python3: Debian's python3-torch on the CPU machine), PYTHON_LATEST,
# THREADS (2), ROWS (comma-separated "workload config batch [torch flags]" rows instead of the
# defaults), ONESTEP_PRECISIONS (onestep's --precision values, space-separated; default fp32, plus
# bf16 on a CPU with avx512_bf16), STEPS (10), WARMUP (3), JSON_OUT (a file to which every raw JSON line is appended), and on the
# GPU PRECISION (fp32 | tf32: both sides may use TF32 tensor cores, onestep via ONESTEP_TF32=1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gpu=0
[[ "${1:-}" == "--gpu" ]] && gpu=1
build="${BUILD_DIR:-$root/build}"
python="${PYTHON:-/usr/bin/python3}"
python_latest="${PYTHON_LATEST:-$root/.venv-torch/bin/python}"
threads="${THREADS:-2}"
steps="${STEPS:-10}"
warmup="${WARMUP:-3}"
json_out="${JSON_OUT:-}"
precision="${PRECISION:-fp32}"
[[ "$precision" == fp32 || "$precision" == tf32 ]] || { echo "PRECISION must be fp32 or tf32" >&2; exit 2; }
[[ "$precision" == tf32 && $gpu == 0 ]] && { echo "PRECISION=tf32 needs --gpu" >&2; exit 2; }
[[ "$precision" == tf32 ]] && export ONESTEP_TF32=1

if [[ ! -x "$build/apps/onestep" ]]; then
  extra=()
  [[ $gpu == 1 ]] && extra=(-DONESTEP_CUDA=ON)
  BUILD_DIR="$build" "$root/scripts/build.sh" "${extra[@]}" >&2
fi
onestep="$build/apps/onestep"

# workload config batch [torch flags...]
if [[ $gpu == 1 ]]; then
  rows=(
    "teacher fmnist 128"
    "teacher fmnist 128 --compile"
    "teacher fmnist 128 --compile --graphs"
    "teacher cifar10 128"
    "teacher cifar10 128 --compile"
    "teacher cifar10 128 --compile --graphs"
    "distill fmnist 128"
    "distill fmnist 128 --compile"
    "generate cifar10 1024"
    "generate cifar10 1024 --compile"
    "generate cifar10 1024 --compile --graphs"
    "adam fmnist 128"
    "adam cifar10 128"
  )
  device=cuda
else
  rows=(
    "teacher fmnist 64"
    "distill fmnist-cpu 32"
    "generate fmnist 64"
    "adam fmnist 64"
  )
  device=cpu
fi

# ROWS="workload config batch [torch flags],...": only these rows.
if [[ -n "${ROWS:-}" ]]; then
  IFS=',' read -ra rows <<<"$ROWS"
fi

# The PyTorch runs each row is compared with: "python precision".
peers=("$python $precision")
if [[ $device == cpu && -x "$python_latest" ]]; then
  peers+=("$python_latest fp32")
  # Without bf16 instructions PyTorch's CPU autocast falls back to slow reference kernels (a 3x3
  # convolution 40x, a GEMM 150x slower than fp32 on an AVX2-only EPYC): no peer worth timing.
  if grep -qw avx512_bf16 /proc/cpuinfo; then
    peers+=("$python_latest bf16")
  else
    echo "(no bf16 rows: this CPU has no avx512_bf16)"
  fi
elif [[ $device == cpu ]]; then
  echo "(no newest-PyTorch rows: $python_latest does not exist; scripts/install-bench-peers.sh makes it)"
fi

field() {  # field NAME JSON -> value
  "$python" -c 'import json,sys; v=json.loads(sys.argv[2]).get(sys.argv[1]); print("" if v is None else v)' "$1" "$2"
}
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

common=(--device "$device" --steps "$steps" --warmup "$warmup")
[[ $device == cpu ]] && common+=(--threads "$threads")
version_of() { "$1" -c 'import torch; print(torch.__version__)'; }
echo "onestep bench ($precision) vs PyTorch on $device$([[ $device == cpu ]] && echo ", $threads threads"): median of $steps steps after $warmup warm-up"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} MALLOC settings: ${MALLOC_ARENA_MAX:+MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX }${MALLOC_MMAP_THRESHOLD_:+MALLOC_MMAP_THRESHOLD_=$MALLOC_MMAP_THRESHOLD_ }${MALLOC_TRIM_THRESHOLD_:+MALLOC_TRIM_THRESHOLD_=$MALLOC_TRIM_THRESHOLD_ }${LD_PRELOAD:+LD_PRELOAD=$LD_PRELOAD}(glibc defaults otherwise)"
[[ $device == cuda ]] && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
# onestep's own precisions: fp32, and on a CPU with avx512_bf16 also --precision bf16.
ours_precisions=(fp32)
[[ $device == cpu ]] && grep -qw avx512_bf16 /proc/cpuinfo && ours_precisions+=(bf16)
[[ -n "${ONESTEP_PRECISIONS:-}" ]] && read -ra ours_precisions <<<"$ONESTEP_PRECISIONS"

printf '\n| %-8s | %-10s | %5s | %-7s | %-30s | %11s | %11s | %6s | %12s | %12s |\n' \
  workload config batch onestep "PyTorch" "onestep ms" "PyTorch ms" ratio "onestep MiB" "PyTorch MiB"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ---------- ------------ ------- --------- \
  -------------------------------- ------------- ------------- -------- -------------- --------------

declare -A onestep_cache
for row in "${rows[@]}"; do
  read -r workload config batch torch_flags <<<"$row"
  # onestep runs once per workload and precision; the compile/graphs rows compare against the
  # same numbers.
  for ours_precision in "${ours_precisions[@]}"; do
    key="$workload $config $batch $ours_precision"
    if [[ -z "${onestep_cache[$key]:-}" ]]; then
      onestep_cache[$key]="$("$onestep" bench --workload "$workload" --config "$config" \
        --batch "$batch" --precision "$ours_precision" "${common[@]}" 2>/dev/null | tail -n 1)"
      [[ -n "$json_out" ]] && echo "${onestep_cache[$key]}" >>"$json_out"
    fi
  done
  for peer in "${peers[@]}"; do
    read -r peer_python peer_precision <<<"$peer"
    # shellcheck disable=SC2086
    theirs="$("$peer_python" "$root/bench/torch_reference.py" --workload "$workload" \
      --config "$config" --batch "$batch" "${common[@]}" --precision "$peer_precision" \
      $torch_flags | tail -n 1)"
    [[ -n "$json_out" ]] && echo "$theirs" >>"$json_out"
    theirs_ms="$(field median_ms "$theirs")"
    mode="eager"
    [[ "$torch_flags" == *--compile* ]] && mode="compile"
    [[ "$torch_flags" == *--graphs* ]] && mode="$mode+graphs"
    for ours_precision in "${ours_precisions[@]}"; do
      ours="${onestep_cache[$workload $config $batch $ours_precision]}"
      ours_ms="$(field median_ms "$ours")"
      ratio="$(awk -v a="$ours_ms" -v b="$theirs_ms" 'BEGIN { printf "%.2f", a / b }')"
      printf '| %-8s | %-10s | %5s | %-7s | %-30s | %11.1f | %11.1f | %6s | %12s | %12s |\n' \
        "$workload" "$config" "$batch" "$ours_precision" \
        "$(field version "$theirs") $peer_precision $mode" "$ours_ms" "$theirs_ms" "$ratio" \
        "$(mib "$(field peak_memory_bytes "$ours")")" "$(mib "$(field peak_memory_bytes "$theirs")")"
    done
  done
done
echo
if [[ $device == cpu ]]; then
  echo "Memory: peak RSS of each process (same measure on both sides)."
else
  echo "Memory: peak bytes of each caching allocator (onestep memory_stats, torch.cuda.max_memory_allocated)."
fi
