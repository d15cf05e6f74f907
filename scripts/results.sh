#!/usr/bin/env bash
# The results study behind docs/RESULTS.md: the teacher (Heun, 35 network evaluations) and every
# distillation method and Uni-Instruct divergence, each sampled with fixed seeds and scored by
# `onestep eval`, on toy:25gaussians, toy:8gaussians and Fashion-MNIST.
#   scripts/results.sh [--gpu] [--only toy|fmnist] [--toys "25gaussians 8gaussians"]
#                      [--toy-images N] [--fmnist-images N] [--samples N] [--teacher PATH]
#                      [--jobs N]
# CPU budgets (default): toy teacher --preset toy, 2M generator images per toy run; Fashion-MNIST
# teacher --preset fmnist-cpu (reused from runs/teacher-fmnist-cpu when present), 2,560 generator
# images per run with --preset fmnist-cpu, 1,000 samples per row. --gpu: presets fmnist, 200,000
# generator images, 10,000 samples (needs a CUDA build). --jobs N trains N distillations at a time,
# each with nproc/N threads (a toy run is faster on one thread than on two, so --jobs 2 on 2 cores
# roughly doubles the toy study's throughput). Finished runs are kept and not redone unless their
# image budget differs from the one asked for, nor rescored; delete runs/results/<dataset>/<run>
# to redo one. Each run directory records the exact command that trained it and the commit
# (command.txt), and each dataset's folder the invocation of this script that last made it
# (invocation.txt); results_table.py prints both in docs/RESULTS.md.
set -euo pipefail
invocation="scripts/results.sh${*:+ $*}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh" python3-matplotlib python3-numpy
. "$root/scripts/script_lib.sh"  # python: Debian's, which sees the packages installed above
out="${OUT:-$root/runs/results}"

commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$root" diff --quiet HEAD -- 2>/dev/null || commit="$commit+uncommitted"
gpu=0 only="" toys="25gaussians 8gaussians" toy_images=2000000 fmnist_images="" samples="" teacher="" jobs=1
parse_flags results.sh "only toys toy_images fmnist_images samples teacher jobs" "gpu" "$@"
case "$jobs" in ''|*[!0-9]*|0) echo "results.sh: --jobs needs a positive integer" >&2; exit 2 ;; esac
threads=$(( $(nproc) / jobs )); [ "$threads" -ge 1 ] || threads=1
device=()
if [ "$gpu" = 1 ]; then
  device=(--device cuda)
  preset=fmnist; fmnist_images="${fmnist_images:-200000}"; samples="${samples:-10000}"
else
  preset=fmnist-cpu; fmnist_images="${fmnist_images:-2560}"; samples="${samples:-1000}"
fi
teacher="${teacher:-$root/runs/teacher-$preset/teacher.safetensors}"

runs=(
  "uni-instruct forward-kl" "uni-instruct jeffreys" "sid -" "uni-instruct reverse-kl"
  "uni-instruct js" "uni-instruct chi2" "uni-instruct hellinger" "uni-instruct softened-rkl"
  "uni-instruct alpha" "uni-instruct-official jeffreys" "sida -" "sim -" "diff-instruct -" "dmd -"
  "dmd2 -" "f-distill jeffreys"
)
# On the toys also the three divergences expected to cover every mode without the GAN term, which
# is not part of the divergence (each entry: method, divergence, run-name suffix, extra flags).
toy_runs=(
  "uni-instruct forward-kl no-gan --gan-weight 0" "uni-instruct jeffreys no-gan --gan-weight 0"
  "uni-instruct js no-gan --gan-weight 0"
)

timed() {  # timed SECONDS_FILE LOG_FILE command...
  local seconds="$1" log="$2"; shift 2
  local start end
  start=$(date +%s.%N)
  "$@" > "$log" 2>&1 || { echo "results.sh: failed, see $log" >&2; tail -3 "$log" >&2; return 1; }
  end=$(date +%s.%N)
  awk "BEGIN { printf \"%.1f\\n\", $end - $start }" > "$seconds"
}

# budget_of RUN_DIR: the generator images a run was asked for (its config.json), or nothing.
budget_of() {
  sed -n 's/^ *"total_images": *\([0-9]*\).*/\1/p' "$1/config.json" 2>/dev/null
}

# distill_one DIR TEACHER PRESET IMAGES SAMPLES EVAL_DATA METHOD DIVERGENCE [SUFFIX FLAGS...]:
# one distillation (unless already finished with this budget), its one-step samples and metrics.
distill_one() {
  local dir="$1" teacher="$2" preset="$3" images="$4" n="$5" data="$6" method="$7" divergence="$8"
  local suffix="${9:-}"; shift 9 2>/dev/null || shift $#
  local name="$method${divergence:+-$divergence}"; name="${name%--}${suffix:+-$suffix}"
  local args=(--preset "$preset" --teacher "$teacher" --method "$method" --images "$images"
              --seed 0 "${device[@]}" "$@")
  [ "$preset" = toy ] && args+=(--preview 0)
  [ "$divergence" != "-" ] && args+=(--divergence "$divergence")
  # Finished means timed to the end: a run stopped by a signal also leaves a generator.
  if [ ! -s "$dir/$name/generator.safetensors" ] || [ ! -s "$dir/$name.seconds" ] ||
     [ "$(budget_of "$dir/$name")" != "$images" ]; then
    rm -rf "$dir/$name" "$dir/$name.seconds"
    echo "$threads $jobs" > "$dir/$name.threads"
    mkdir -p "$dir/$name"
    printf 'onestep distill %s --out %s\ncommit %s\n' "${args[*]}" "$dir/$name" "$commit" \
      > "$dir/$name/command.txt"
    ONESTEP_THREADS="$threads" timed "$dir/$name.seconds" "$dir/$name.log" \
      "$onestep" distill "${args[@]}" --out "$dir/$name" || return 0
  fi
  # Scored already (samples and metrics are deterministic): keep it; delete eval.json to rescore.
  [ "$dir/$name/eval.json" -nt "$dir/$name/generator.safetensors" ] && return 0
  "$onestep" sample --model "$dir/$name/generator.safetensors" --n "$n" --seed 1 "${device[@]}" \
    --out "$dir/$name/samples" > /dev/null
  "$onestep" eval --samples "$dir/$name/samples/samples.npy" --data "$data" \
    --out "$dir/$name/eval.json" | tail -1
}

# distill_all DIR TEACHER PRESET IMAGES SAMPLES EVAL_DATA RUN...: each run ("METHOD DIVERGENCE
# [SUFFIX FLAGS...]"), --jobs at a time.
distill_all() {
  local common=("${@:1:6}") run fields
  for run in "${@:7}"; do
    read -r -a fields <<<"$run"
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    distill_one "${common[@]}" "${fields[@]}" &
  done
  wait
}

if [ "$only" != fmnist ]; then
  for toy in $toys; do
    dir="$out/$toy"
    mkdir -p "$dir"
    printf '%s\ncommit %s\n' "$invocation" "$commit" > "$dir/invocation.txt"
    if [ ! -s "$dir/teacher/teacher.safetensors" ]; then
      timed "$dir/teacher.seconds" "$dir/teacher.log" \
        "$onestep" teacher --preset toy --data "toy:$toy" --seed 0 "${device[@]}" \
        --out "$dir/teacher" --preview 0
    fi
    "$onestep" sample --model "$dir/teacher/teacher.safetensors" --n 4000 --seed 1 "${device[@]}" \
      --out "$dir/teacher/samples" > /dev/null
    "$onestep" eval --samples "$dir/teacher/samples/samples.npy" --data "toy:$toy" \
      --out "$dir/teacher/eval.json" | tail -1
    distill_all "$dir" "$dir/teacher/teacher.safetensors" toy "$toy_images" 4000 "toy:$toy" \
      "${runs[@]}" "${toy_runs[@]}"
    "$python" "$root/scripts/plot.py" scatter "$dir" --out "$dir/scatter.png"
  done
fi

if [ "$only" != toy ]; then
  dir="$out/fashion-mnist"
  mkdir -p "$dir/teacher"
  printf '%s\ncommit %s\n' "$invocation" "$commit" > "$dir/invocation.txt"
  if [ ! -s "$teacher" ]; then
    echo "results.sh: training the Fashion-MNIST teacher ($preset) into $(dirname "$teacher")"
    "$onestep" teacher --preset "$preset" --seed 0 "${device[@]}" --out "$(dirname "$teacher")"
  fi
  features="$root/assets/fmnist-features.safetensors"
  [ -s "$features" ] || "$onestep" eval --train-features --data fashion-mnist --features "$features"
  # The floor: real training images scored like samples.
  "$python" "$root/scripts/fmnist_npy.py" train "$samples" "$dir/real-train/samples/samples.npy"
  "$onestep" eval --samples "$dir/real-train/samples/samples.npy" --out "$dir/real-train/eval.json" | tail -1
  if [ ! -s "$dir/teacher/samples/samples.npy" ] || [ ! -s "$dir/teacher.seconds" ]; then
    timed "$dir/teacher.seconds" "$dir/teacher.log" "$onestep" sample --model "$teacher" \
      --n "$samples" --steps 18 --seed 1 "${device[@]}" --out "$dir/teacher/samples"
  fi
  cp "$(dirname "$teacher")/metrics.jsonl" "$dir/teacher/metrics.jsonl"
  [ -s "$(dirname "$teacher")/samples.png" ] && cp "$(dirname "$teacher")/samples.png" "$dir/teacher/samples.png"
  "$onestep" eval --samples "$dir/teacher/samples/samples.npy" --out "$dir/teacher/eval.json" | tail -1
  distill_all "$dir" "$teacher" "$preset" "$fmnist_images" "$samples" fashion-mnist "${runs[@]}"
  "$python" "$root/scripts/plot.py" curves "$dir"/uni-instruct-forward-kl "$dir"/sid "$dir"/dmd2 \
    "$dir"/diff-instruct --out "$dir/curves.png"
fi

"$python" "$root/scripts/results_table.py" "$out" --fmnist-images "$fmnist_images" \
  --samples "$samples" --preset "$preset" --keep-from "$root/docs/RESULTS.md" \
  > "$root/docs/RESULTS.md.tmp"
mv "$root/docs/RESULTS.md.tmp" "$root/docs/RESULTS.md"
mkdir -p "$root/docs/figures/results"
for toy in $toys; do
  [ -s "$out/$toy/scatter.png" ] && cp "$out/$toy/scatter.png" "$root/docs/figures/results/$toy.png"
done
if [ -d "$out/fashion-mnist" ]; then
  for d in "$out/fashion-mnist"/*/samples.png; do
    [ -s "$d" ] || continue
    run="$(basename "$(dirname "$d")")"
    cp "$d" "$root/docs/figures/results/fmnist-$run.png"
  done
  [ -s "$out/fashion-mnist/curves.png" ] && cp "$out/fashion-mnist/curves.png" "$root/docs/figures/results/fmnist-curves.png"
fi
echo "wrote docs/RESULTS.md and docs/figures/results/"
