#!/usr/bin/env bash
# The 2-D distillation study: on toy:25gaussians and toy:8gaussians, train the toy teacher, then
# distil it with every method and every Uni-Instruct divergence, sample 4000 points from each,
# and write docs/DISTILL_2D.md (modes covered, high-quality fraction, sliced Wasserstein
# distance next to the teacher at 35 NFE) and a scatter plot per run.
#   scripts/study-2d.sh [IMAGES]     (default 2000000 generator images per run)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
onestep="${ONESTEP:-$root/build/apps/onestep}"
out="${OUT:-$root/runs/study-2d}"
images="${1:-2000000}"
runs=(
  "uni-instruct reverse-kl" "uni-instruct forward-kl" "uni-instruct jeffreys" "uni-instruct js"
  "uni-instruct chi2" "uni-instruct hellinger" "uni-instruct softened-rkl" "uni-instruct alpha"
  "uni-instruct-official jeffreys" "sid -" "sida -" "sim -" "diff-instruct -" "dmd -" "dmd2 -"
  "f-distill jeffreys"
)
mkdir -p "$out"
for data in 25gaussians 8gaussians; do
  dir="$out/$data"
  mkdir -p "$dir"
  if [ ! -s "$dir/teacher/teacher.safetensors" ]; then
    /usr/bin/time -f "%e" -o "$dir/teacher.seconds" \
      "$onestep" teacher --preset toy --data "toy:$data" --out "$dir/teacher" --preview 0 > "$dir/teacher.log"
  fi
  "$onestep" sample --model "$dir/teacher/teacher.safetensors" --n 4000 --out "$dir/teacher/samples" > /dev/null
  for run in "${runs[@]}"; do
    read -r method divergence <<<"$run"
    name="$method${divergence:+-$divergence}"; name="${name%--}"
    args=(--preset toy --teacher "$dir/teacher/teacher.safetensors" --method "$method" --images "$images" --preview 0)
    [ "$divergence" != "-" ] && args+=(--divergence "$divergence")
    if [ ! -s "$dir/$name/generator.safetensors" ]; then
      rm -rf "$dir/$name"
      /usr/bin/time -f "%e" -o "$dir/$name.seconds" "$onestep" distill "${args[@]}" --out "$dir/$name" > "$dir/$name.log"
    fi
    "$onestep" sample --model "$dir/$name/generator.safetensors" --n 4000 --out "$dir/$name/samples" > /dev/null
    echo "$data $name: $(cat "$dir/$name/samples/metrics.json")"
  done
done
python3 "$root/scripts/study_2d_table.py" "$out" "$images" > "$root/docs/DISTILL_2D.md"
mkdir -p "$root/docs/figures/2d"
for data in 25gaussians 8gaussians; do
  cp "$out/$data/teacher/samples/samples.png" "$root/docs/figures/2d/$data-teacher.png"
  for d in "$out/$data"/*/samples; do
    run="$(basename "$(dirname "$d")")"
    [ "$run" = teacher ] || cp "$d/samples.png" "$root/docs/figures/2d/$data-$run.png"
  done
done
echo "wrote docs/DISTILL_2D.md and docs/figures/2d/"
