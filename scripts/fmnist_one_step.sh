#!/usr/bin/env bash
# Fashion-MNIST, one step against the teacher (docs/RESULTS.md, "Fashion-MNIST: one step against
# 35"): the fmnist-cpu teacher (reused when present), one long Uni-Instruct distillation scored
# along the way (--eval-every), then 10,000 samples of the teacher (Heun, 18 steps) and of the
# generator (3 sampling seeds) scored by `onestep eval` against the 10,000 test images, the
# training images as the floor, a side-by-side sample grid, and the table.
#   scripts/fmnist_one_step.sh [--out DIR] [--teacher T] [--images N] [--threads N]
#                              [--samples N] [--study [--study-images N] [--study-only A,B]]
#                              [--update-docs]
# The distillation is continued with --resume when its directory holds a checkpoint, so the
# script can be stopped and rerun (or rerun with a larger --images) without losing work; samples
# and scores already made are kept. --study runs only the recipe study (each setting for
# --study-images, one thread, two at a time; --study-only: just the settings named) and draws
# its curves. --update-docs writes the table
# into docs/RESULTS.md and the figures into docs/figures/fmnist-one-step/.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/script_lib.sh"
out="$root/runs/fmnist-one-step" teacher="$root/runs/teacher-fmnist-cpu/teacher.safetensors"
images=64000 threads=2 samples=10000 study=0 study_images=6400 study_only="" update_docs=0
parse_flags fmnist_one_step.sh "out teacher images threads samples study_images study_only" "study update_docs" "$@"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
mkdir -p "$out"
printf 'scripts/fmnist_one_step.sh --images %s --threads %s --samples %s\ncommit %s\n' \
  "$images" "$threads" "$samples" "$commit" > "$out/invocation.txt"

if [ ! -s "$teacher" ]; then
  echo "fmnist_one_step.sh: training the teacher into $(dirname "$teacher") (about 30 min)"
  ONESTEP_THREADS="$threads" "$onestep" teacher --preset fmnist-cpu --seed 0 \
    --out "$(dirname "$teacher")"
fi

# The recipe (docs/DISTILL.md, "The Fashion-MNIST recipe"), which the fmnist-cpu preset gives
# uni-instruct: the JS divergence, a GAN weight 3,000 times the official 0.01 read through a
# learned discriminator head with a learning rate of its own, and DMD's regression term.
recipe=(--method uni-instruct)
scoring=(--eval-every 6400 --eval-samples 1000)
study_scoring=(--eval-every 3200 --eval-samples 1000)

# distil DIR IMAGES THREADS FLAGS...: a fresh run, or the run in DIR continued to IMAGES.
distil() {
  local dir="$1" n="$2" t="$3"
  shift 3
  local scoring=("${scoring[@]}")
  [[ "$dir" == */study/* ]] && scoring=("${study_scoring[@]}")
  if [ -s "$dir/state.safetensors" ]; then
    local seen
    seen="$(tail -n 1 "$dir/metrics.jsonl" | "$python" -c 'import json, sys; print(json.load(sys.stdin).get("images", 0))')"
    [ "$seen" -ge "$n" ] && [ -s "$dir/generator.safetensors" ] && return 0  # already there
    ONESTEP_THREADS="$t" "$onestep" distill --resume --out "$dir" --images "$n" "${scoring[@]}"
  else
    rm -rf "$dir"
    mkdir -p "$dir"
    printf 'onestep distill --preset fmnist-cpu --teacher %s %s --images %s %s --out %s\ncommit %s\n' \
      "${teacher#"$root"/}" "$*" "$n" "${scoring[*]}" "${dir#"$root"/}" "$commit" > "$dir.command.txt"
    ONESTEP_THREADS="$t" "$onestep" distill --preset fmnist-cpu --teacher "$teacher" "$@" \
      --images "$n" "${scoring[@]}" --out "$dir"
  fi
}

if [ "$study" = 1 ]; then
  # name | flags: the settings compared, each from the same teacher and seed.
  settings=(
    "js-gan-0.3|--method uni-instruct --divergence js --gan-weight 0.3 --regression-weight 0.25 --lr 2e-4"
    "js-gan-3|--method uni-instruct --divergence js --gan-weight 3 --regression-weight 0.25 --lr 2e-4"
    "js-gan-3-disc-lognormal|--method uni-instruct --divergence js --gan-weight 3 --regression-weight 0.25 --lr 2e-4 --disc-sigma lognormal"
    "js-gan-3-lr-5e-4|--method uni-instruct --divergence js --gan-weight 3 --regression-weight 0.25 --lr 5e-4"
    "js-gan-3-reg-1|--method uni-instruct --divergence js --gan-weight 3 --regression-weight 1 --lr 2e-4"
    "js-gan-30|--method uni-instruct --divergence js --gan-weight 30 --regression-weight 0.25 --lr 2e-4"
    "js-gan-3-head|--method uni-instruct --divergence js --gan-weight 3 --regression-weight 0.25 --lr 2e-4 --disc-head learned"
    "js-gan-30-head|--method uni-instruct --divergence js --gan-weight 30 --regression-weight 0.25 --lr 2e-4 --disc-head learned"
    "js-gan-30-head-lr-2e-3|--method uni-instruct --divergence js --gan-weight 30 --regression-weight 0.25 --lr 2e-4 --disc-head learned --lr-disc-head 2e-3"
    "js-gan-100-head-lr-2e-3|--method uni-instruct --divergence js --gan-weight 100 --regression-weight 0.25 --lr 2e-4 --disc-head learned --lr-disc-head 2e-3"
  )
  mkdir -p "$out/study"
  for s in "${settings[@]}"; do
    name="${s%%|*}"
    [ -z "$study_only" ] || [[ ",$study_only," == *",$name,"* ]] || continue
    read -r -a flags <<<"${s#*|}"
    distil "$out/study/$name" "$study_images" 1 "${flags[@]}" > "$out/study/$name.log" 2>&1 &
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
  done
  wait
  "$python" "$root/scripts/plot.py" learning "$out"/study/*/ --out "$out/study/curves.png"
  echo "wrote $out/study/curves.png"
  exit 0
fi

distil "$out/uni-instruct" "$images" "$threads" "${recipe[@]}" 2>&1 | tee -a "$out/uni-instruct.log"

# score NAME SAMPLES.npy: onestep eval into NAME/eval.json (kept when newer than the samples).
score() {
  [ "$out/$1/eval.json" -nt "$2" ] && return 0
  ONESTEP_THREADS="$threads" "$onestep" eval --samples "$2" --out "$out/$1/eval.json" | tail -1
}
mkdir -p "$out/real-train/samples"
[ -s "$out/real-train/samples/samples.npy" ] ||
  "$python" "$root/scripts/fmnist_npy.py" train "$samples" "$out/real-train/samples/samples.npy"
score real-train "$out/real-train/samples/samples.npy"
if [ ! -s "$out/teacher/samples/samples.npy" ]; then
  mkdir -p "$out/teacher"
  start=$(date +%s.%N)
  ONESTEP_THREADS="$threads" "$onestep" sample --model "$teacher" --n "$samples" --steps 18 \
    --seed 1 --out "$out/teacher/samples" > /dev/null
  echo "$start $(date +%s.%N) $threads" | awk '{print $2 - $1, $3}' > "$out/teacher/sample.seconds"
fi
score teacher "$out/teacher/samples/samples.npy"
echo "$teacher" > "$out/teacher.path"
# The teacher at the learning curve's sample count: its first 1,000 samples.
mkdir -p "$out/teacher-1000/samples"
[ -s "$out/teacher-1000/samples/samples.npy" ] && [ "$out/teacher-1000/samples/samples.npy" -nt "$out/teacher/samples/samples.npy" ] ||
  "$python" -c "import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1])[:1000])" \
  "$out/teacher/samples/samples.npy" "$out/teacher-1000/samples/samples.npy"
score teacher-1000 "$out/teacher-1000/samples/samples.npy"
for seed in 1 2 3; do
  dir="$out/uni-instruct-seed$seed"
  if [ ! -s "$dir/samples/samples.npy" ] ||
    [ "$out/uni-instruct/generator.safetensors" -nt "$dir/samples/samples.npy" ]; then
    ONESTEP_THREADS="$threads" "$onestep" sample --model "$out/uni-instruct/generator.safetensors" \
      --n "$samples" --seed "$seed" --out "$dir/samples" > /dev/null
  fi
  score "uni-instruct-seed$seed" "$dir/samples/samples.npy"
done
# The grids: 64 samples of each from the same seed, side by side.
for model in teacher uni-instruct; do
  file="$teacher" steps=(--steps 18)
  [ "$model" = uni-instruct ] && file="$out/uni-instruct/generator.safetensors" steps=()
  [ -s "$out/grid-$model/samples.png" ] && [ "$out/grid-$model/samples.png" -nt "$file" ] && continue
  ONESTEP_THREADS="$threads" "$onestep" sample --model "$file" --n 64 "${steps[@]}" --seed 4 \
    --out "$out/grid-$model" > /dev/null
done
"$python" "$root/scripts/plot.py" grids "$out/grid-teacher/samples.png" \
  "$out/grid-uni-instruct/samples.png" --titles "teacher, Heun 18 steps (35 NFE)" \
  "Uni-Instruct, 1 step" --out "$out/grids.png"
"$python" "$root/scripts/plot.py" learning "$out/uni-instruct" --out "$out/curve.png"
"$python" "$root/scripts/fmnist_one_step_table.py" "$out" | tee "$out/table.md"

if [ "$update_docs" = 1 ]; then
  mkdir -p "$root/docs/figures/fmnist-one-step"
  cp "$out/grids.png" "$out/curve.png" "$root/docs/figures/fmnist-one-step/"
  [ -s "$out/study/curves.png" ] && cp "$out/study/curves.png" "$root/docs/figures/fmnist-one-step/study.png"
  "$python" "$root/scripts/fmnist_one_step_table.py" "$out" --replace-in "$root/docs/RESULTS.md"
  echo "updated docs/RESULTS.md and docs/figures/fmnist-one-step/"
fi
