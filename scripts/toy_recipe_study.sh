#!/usr/bin/env bash
# The study behind the toy demo's recipe (docs/DISTILL.md, "The toy demo's recipe"): the demo's
# teacher (--preset toy on toy:25gaussians, 4M images, seed 0), then one `onestep distill` per setting
# below, each scored along the way (--eval-every 500000, 4,000 samples) and at the end by
# `onestep sample --n 4000` (modes covered, high-quality fraction, sliced Wasserstein distance,
# the demo's measures). Prints one table and writes the learning curves to OUT/curves.png.
#   scripts/toy_recipe_study.sh [--out DIR] [--only NAME]
# One thread per distillation, two at a time (about 25 minutes on 2 cores); runs already scored
# are kept, so an interrupted study continues where it stopped.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/script_lib.sh"
out="$root/runs/toy-recipe" only=""
parse_flags toy_recipe_study.sh "out only" "" "$@"
mkdir -p "$out"
teacher="$out/teacher/teacher.safetensors"
if [ ! -s "$teacher" ]; then
  rm -rf "$out/teacher"
  "$onestep" teacher --preset toy --data toy:25gaussians --images 4000000 --seed 0 \
    --out "$out/teacher" > "$out/teacher.log" 2>&1
fi
[ -s "$out/teacher/samples/metrics.json" ] ||
  "$onestep" sample --model "$teacher" --n 4000 --out "$out/teacher/samples" > /dev/null

ui="--method uni-instruct"
fast="--lr 2e-3 --images 3000000"
# name | flags (after --preset toy): the path the study took, in order.
settings=(
  "fkl-preset|$ui --divergence forward-kl"
  "rkl-preset|$ui --divergence reverse-kl"
  "jeffreys-preset|$ui --divergence jeffreys"
  "js-preset|$ui --divergence js"
  "rkl-2-fake-steps|$ui --divergence reverse-kl --fake-steps 2"
  "rkl-sigma-init-1|$ui --divergence reverse-kl --sigma-init 1"
  "js-gan-0.1|$ui --divergence js $fast --gan-weight 0.1"
  "js-gan-1|$ui --divergence js $fast --gan-weight 1"
  "js-gan-3|$ui --divergence js $fast --gan-weight 3"
  "js-gan-10|$ui --divergence js $fast --gan-weight 10"
  "dmd-preset|--method dmd"
  "regression-only|$ui --divergence js $fast --regression-weight 1000"
  "fkl-reg-0.25|$ui --divergence forward-kl --images 3000000 --regression-weight 0.25"
  "rkl-reg-0.25|$ui --divergence reverse-kl --images 3000000 --regression-weight 0.25"
  "jeffreys-reg-0.25|$ui --divergence jeffreys --images 3000000 --regression-weight 0.25"
  "js-reg-0.25|$ui --divergence js --images 3000000 --regression-weight 0.25"
  "js-reg-1|$ui --divergence js $fast --regression-weight 1"
  "rkl-reg-1|$ui --divergence reverse-kl $fast --regression-weight 1"
  "js-reg-1-gan-1|$ui --divergence js $fast --regression-weight 1 --gan-weight 1"
  "js-reg-1-gan-3|$ui --divergence js $fast --regression-weight 1 --gan-weight 3"
)

run_one() {
  local name="$1" flags="$2" run="$out/$1"
  [ -s "$run/samples/metrics.json" ] && return 0
  rm -rf "$run"
  # shellcheck disable=SC2086
  ONESTEP_THREADS=1 "$onestep" distill --preset toy --teacher "$teacher" --seed 0 --preview 0 \
    --eval-every 500000 --eval-samples 4000 $flags --out "$run" > "$run.log" 2>&1
  ONESTEP_THREADS=1 "$onestep" sample --model "$run/generator.safetensors" --n 4000 \
    --out "$run/samples" > /dev/null
  echo "$flags" > "$run/flags.txt"
}

pending=()
for entry in "${settings[@]}"; do
  name="${entry%%|*}" flags="${entry#*|}"
  [ -z "$only" ] || [ "$only" = "$name" ] || continue
  run_one "$name" "$flags" &
  pending+=($!)
  if [ ${#pending[@]} -eq 2 ]; then wait "${pending[@]}"; pending=(); fi
done
[ ${#pending[@]} -eq 0 ] || wait "${pending[@]}"

"$python" - "$out" "${settings[@]}" <<'PY'
import json, os, sys
out, settings = sys.argv[1], sys.argv[2:]
def metrics(d):
    return json.load(open(os.path.join(d, "samples", "metrics.json")))
t = metrics(os.path.join(out, "teacher"))
print(f"{'setting':20s} {'modes':>6s} {'hq %':>6s} {'SWD':>7s} {'x teacher':>9s}  curve (images: modes, hq %)   flags")
print(f"{'teacher (35 NFE)':20s} {t['modes_covered']:>3d}/{t['modes']:<2d} {100*t['high_quality']:6.1f} {t['sliced_wasserstein']:7.4f} {1:9.2f}")
for entry in settings:
    name, flags = entry.split("|", 1)
    run = os.path.join(out, name)
    if not os.path.exists(os.path.join(run, "samples", "metrics.json")):
        continue
    m = metrics(run)
    curve = []
    for line in open(os.path.join(run, "metrics.jsonl")):
        r = json.loads(line)
        # every million images, and the end
        if "eval_swd" in r and r["images"] > 0 and (r["images"] // 500000) % 2 == 0:
            curve.append(f"{r['images']/1e6:.1f}M:{r['eval_modes_covered']:.0f},{100*r['eval_high_quality']:.0f}")
    print(f"{name:20s} {m['modes_covered']:>3d}/{m['modes']:<2d} {100*m['high_quality']:6.1f} "
          f"{m['sliced_wasserstein']:7.4f} {m['sliced_wasserstein']/t['sliced_wasserstein']:9.2f}  "
          f"{' '.join(curve):28s} {flags}")
PY
if "$python" -c "import matplotlib" 2>/dev/null; then
  "$python" "$root/scripts/plot.py" learning "$out"/js-reg-1-gan-3 "$out"/js-reg-1 \
    "$out"/regression-only "$out"/js-gan-3 "$out"/js-preset --out "$out/curves.png"
  echo "learning curves: $out/curves.png"
else
  echo "no matplotlib (python3-matplotlib): curves not drawn"
fi
