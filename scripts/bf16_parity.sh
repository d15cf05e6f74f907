#!/usr/bin/env bash
# bf16 against fp32 on Fashion-MNIST at the same budgets (docs/PERFORMANCE.md, "bf16: quality").
# Three teachers (--preset fmnist-cpu): fp32 with seeds 0 and 1, bf16 with seed 0. Then three
# uni-instruct (JS) distillations of the fp32 seed-0 teacher: fp32 with seeds 0 and 1, bf16 with
# seed 0. Every model is sampled in its own precision (sampling seed 1) and scored by `onestep
# eval` against the 10,000 test images. The two fp32 seeds are the run-to-run spread the bf16 run
# is judged against.
#
#   scripts/bf16_parity.sh [--out DIR] [--teacher-images N] [--distill-images N] [--samples N]
#
# Trains three runs at a time, one thread each (ONESTEP_THREADS=1). A finished run (its model and
# its .seconds file exist) is kept, so an interrupted study continues where it stopped. Prints a
# markdown table and writes it, with the command and commit, to DIR/table.md.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/script_lib.sh"
invocation="scripts/bf16_parity.sh $*"
out="$root/runs/bf16-parity" teacher_images=51200 distill_images=2560 samples=1000
parse_flags bf16_parity.sh "out teacher_images distill_images samples" "" "$@"
commit="$(git -C "$root" rev-parse --short HEAD)"
export ONESTEP_THREADS=1
mkdir -p "$out"

# train NAME MODEL_FILE command...: runs the training into $out/NAME (log NAME.log, wall time
# NAME.seconds) unless it finished before.
train() {
  local name="$1" model="$2"; shift 2
  [ -s "$out/$name/$model" ] && [ -s "$out/$name.seconds" ] && return 0
  rm -rf "${out:?}/$name" "$out/$name.seconds"
  local start=$SECONDS
  "$@" --out "$out/$name" > "$out/$name.log" 2>&1 ||
    { echo "bf16_parity.sh: $name failed, see $out/$name.log" >&2; return 1; }
  echo $((SECONDS - start)) > "$out/$name.seconds"
}

# score NAME MODEL_FILE PRECISION [sample flags]: samples and FID of a finished run.
score() {
  local name="$1" model="$2" precision="$3"; shift 3
  [ "$out/$name/eval.json" -nt "$out/$name/$model" ] && return 0
  "$onestep" sample --model "$out/$name/$model" --n "$samples" --seed 1 --precision "$precision" \
    "$@" --out "$out/$name/samples" > "$out/$name.sample.log" 2>&1
  "$onestep" eval --samples "$out/$name/samples/samples.npy" --out "$out/$name/eval.json" \
    > "$out/$name.eval.log" 2>&1
}

teacher() {  # teacher PRECISION SEED
  local name="teacher-$1-seed$2"
  train "$name" teacher.safetensors "$onestep" teacher --preset fmnist-cpu \
    --images "$teacher_images" --seed "$2" --precision "$1" --preview 0 &&
    score "$name" teacher.safetensors "$1" --steps 18
}

distill() {  # distill PRECISION SEED
  local name="distill-$1-seed$2"
  train "$name" generator.safetensors "$onestep" distill --preset fmnist-cpu \
    --teacher "$out/teacher-fp32-seed0/teacher.safetensors" --method uni-instruct --divergence js \
    --images "$distill_images" --seed "$2" --precision "$1" --preview 0 &&
    score "$name" generator.safetensors "$1"
}

# Runs each call in the background and fails when any of them failed.
all() {
  local pids=() call status=0
  for call in "$@"; do
    $call &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  return $status
}

all "teacher fp32 0" "teacher fp32 1" "teacher bf16 0"
all "distill fp32 0" "distill fp32 1" "distill bf16 0"

python3 - "$out" "$invocation" "$commit" "$teacher_images" "$distill_images" "$samples" <<'PY'
import json, sys, pathlib
out, invocation, commit, t_images, d_images, samples = sys.argv[1:]
out = pathlib.Path(out)
lines = [f"Made by `{invocation}` (commit {commit}), three runs at a time on one thread each.",
         f"Teachers: `--preset fmnist-cpu`, {int(t_images):,} images; distillations: uni-instruct "
         f"(JS) of the fp32 seed-0 teacher, {int(d_images):,} images. {int(samples):,} samples per "
         "row (teachers: Heun, 18 steps), sampled in the run's precision, scored by `onestep eval` "
         "against the 10,000 test images.", "",
         "| run | precision | seed | FID | KID ×10³ | wall time |", "|---|---|---|---|---|---|"]
for kind in ("teacher", "distill"):
    for precision, seed in (("fp32", 0), ("fp32", 1), ("bf16", 0)):
        name = f"{kind}-{precision}-seed{seed}"
        e = json.loads((out / name / "eval.json").read_text())
        minutes = int((out / f"{name}.seconds").read_text()) / 60
        lines.append(f"| {kind} | {precision} | {seed} | {e['fid']:.3f} | "
                     f"{1e3 * e['kid']:.2f} ± {1e3 * e['kid_se']:.2f} | {minutes:.1f} min |")
table = "\n".join(lines) + "\n"
(out / "table.md").write_text(table)
print(table)
PY
