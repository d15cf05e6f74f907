#!/usr/bin/env bash
# The main job on the bundled defaults: train a teacher on toy:25gaussians, distil it into a
# one-step generator with Uni-Instruct at the toy preset's recipe (Jensen-Shannon, with its GAN
# term and DMD's regression to teacher ODE pairs, as docs/DISTILL.md measures in "The toy demo's
# recipe"), sample both, and print their metrics side by side. `scripts/demo.sh fmnist` runs the
# same pipeline on Fashion-MNIST with the fmnist-cpu preset's recipe (about 2.2 hours on 2 cores:
# the teacher ~35 min, the distillation that reaches the teacher's FID ~1.6 h). `scripts/demo.sh toy SEED` seeds every step with SEED
# (0 by default). Installs dependencies and builds first; re-running starts the demo afresh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
onestep="${BUILD_DIR:-$root/build}/apps/onestep"
target="${1:-toy}"
seed="${2:-0}"

case "$target" in
  toy)
    out="$root/runs/demo"
    rm -rf "$out"
    "$onestep" teacher --preset toy --data toy:25gaussians --images 4000000 --seed "$seed" \
      --out "$out/teacher"
    "$onestep" sample --model "$out/teacher/teacher.safetensors" --n 4000 --seed "$seed" \
      --out "$out/teacher/samples"
    "$onestep" distill --preset toy --teacher "$out/teacher/teacher.safetensors" --seed "$seed" \
      --eval-every 500000 --out "$out/uni-instruct"
    "$onestep" sample --model "$out/uni-instruct/generator.safetensors" --n 4000 --seed "$seed" \
      --out "$out/uni-instruct/samples"
    echo
    echo "teacher (35 network evaluations): $(cat "$out/teacher/samples/metrics.json")"
    echo "one-step generator (1 evaluation): $(cat "$out/uni-instruct/samples/metrics.json")"
    echo "scatter plots: $out/teacher/samples/samples.png and $out/uni-instruct/samples/samples.png"
    ;;
  fmnist)
    out="$root/runs/demo-fmnist"
    rm -rf "$out"
    "$onestep" teacher --preset fmnist-cpu --out "$out/teacher"
    "$onestep" sample --model "$out/teacher/teacher.safetensors" --n 64 --out "$out/teacher/samples"
    "$onestep" distill --preset fmnist-cpu --teacher "$out/teacher/teacher.safetensors" \
      --out "$out/uni-instruct"
    "$onestep" sample --model "$out/uni-instruct/generator.safetensors" --n 64 --out "$out/uni-instruct/samples"
    echo "grids: $out/teacher/samples/samples.png and $out/uni-instruct/samples/samples.png"
    ;;
  *)
    echo "usage: scripts/demo.sh [toy|fmnist] [seed]" >&2
    exit 2
    ;;
esac
