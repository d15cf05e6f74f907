#!/usr/bin/env bash
# How well the discriminator's input-gradient (the default --ratio-gradient discriminator) agrees
# with the denoisers' closed form (D_p - D_q) / sigma^2 on a real Fashion-MNIST distillation, per
# noise-level band, and what each ratio-gradient mode gives: the numbers in docs/DISTILL.md
# ("The ratio gradient on a real run").
#   scripts/ratio_gradient_study.sh [--teacher PATH] [--teacher-images N] [--images N]
#                                    [--samples N] [--out DIR]
# Trains a teacher with --preset fmnist-cpu (--teacher-images, default 30,720, one thread)
# unless --teacher is given; then, for each mode, `onestep distill --preset fmnist-cpu` with the
# agreement measured at every generator step (--log-every = the batch), one-step samples and
# `onestep eval`; prints one table. One thread per run, one run at a time.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/script_lib.sh"
out="$root/runs/ratio-gradient" teacher="" teacher_images=30720 images=6400 samples=1000
parse_flags ratio_gradient_study.sh "teacher teacher_images images samples out" "" "$@"
export ONESTEP_THREADS=1
mkdir -p "$out"
if [ -z "$teacher" ]; then
  teacher="$out/teacher/teacher.safetensors"
  [ -s "$teacher" ] || "$onestep" teacher --preset fmnist-cpu --images "$teacher_images" --seed 0 \
    --preview 0 --out "$out/teacher" > "$out/teacher.log" 2>&1
fi
for mode in discriminator closed-form; do
  run="$out/$mode"
  if [ ! -s "$run/eval.json" ]; then
    rm -rf "$run"
    "$onestep" distill --preset fmnist-cpu --teacher "$teacher" --ratio-gradient "$mode" \
      --images "$images" --log-every 32 --preview 0 --seed 0 --out "$run" > "$run.log" 2>&1
    "$onestep" sample --model "$run/generator.safetensors" --n "$samples" --seed 1 \
      --out "$run/samples" > /dev/null
    "$onestep" eval --samples "$run/samples/samples.npy" --data fashion-mnist \
      --out "$run/eval.json" > /dev/null
  fi
done
"$python" - "$out" <<'PY'
import json, sys, math, os
out = sys.argv[1]
bands = ["sigma_lt_0.05", "sigma_0.05_0.5", "sigma_0.5_5", "sigma_ge_5"]
print("| mode | FID | " + " | ".join(f"cos {b} | norm ratio {b}" for b in bands) + " |")
print("|---" * (2 + 2 * len(bands)) + "|")
for mode in ["discriminator", "closed-form"]:
    rows = [json.loads(l) for l in open(os.path.join(out, mode, "metrics.jsonl"))]
    cells = []
    for b in bands:
        for key in (f"ratio_grad_cosine_{b}", f"ratio_grad_norm_ratio_{b}"):
            # Measured only where the generator step reads the discriminator (after the warm-ups).
            v = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and not math.isnan(r[key])]
            cells.append(f"{sum(v) / len(v):.3f} (n={len(v)})" if v else "-")
    fid = json.load(open(os.path.join(out, mode, "eval.json"))).get("fid", math.nan)
    print(f"| {mode} | {fid:.2f} | " + " | ".join(cells) + " |")
PY
