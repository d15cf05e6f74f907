#!/usr/bin/env bash
# scripts/fmnist_one_step_table.py renders the "one step against 35" section of docs/RESULTS.md
# from scripts/fmnist_one_step.sh's run directory: every number must come from the run's files,
# the one-step row must give the three seeds' mean and range, the verdict must follow the worst
# seed, --replace-in must replace only its own section, and scripts/results_table.py must carry
# the section over when it rewrites the rest of the document.
# Usage: fmnist_one_step_table_test.sh PYTHON scripts/fmnist_one_step_table.py scripts/results_table.py
set -uo pipefail
python="$1" table="$2" results_table="$3"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail=0
expect() {  # expect DESCRIPTION FILE FIXED_STRING
  grep -qF -- "$3" "$2" || { echo "FAIL: $1: no line with '$3'"; fail=1; }
}

out="$work/run"
mkdir -p "$out/real-train" "$out/teacher" "$out/teacher-1000" "$out/uni-instruct" "$work/teacher-run"
eval_json() {  # eval_json DIR N FID KID KID_SE PRECISION RECALL
  printf '{"n": %s, "fid": %s, "kid": %s, "kid_se": %s, "precision": %s, "recall": %s}\n' \
    "$2" "$3" "$4" "$5" "$6" "$7" > "$1/eval.json"
}
eval_json "$out/real-train" 10000 0.021 -0.00001 0.00002 0.93 0.92
eval_json "$out/teacher" 10000 0.500 0.00400 0.00010 0.81 0.77
eval_json "$out/teacher-1000" 1000 1.400 0.00900 0.00020 0.80 0.76
for seed in 1 2 3; do mkdir -p "$out/uni-instruct-seed$seed"; done
eval_json "$out/uni-instruct-seed1" 10000 0.450 0.00300 0.00011 0.82 0.70
eval_json "$out/uni-instruct-seed2" 10000 0.470 0.00320 0.00012 0.83 0.71
eval_json "$out/uni-instruct-seed3" 10000 0.490 0.00340 0.00013 0.84 0.72
echo "$work/teacher-run/teacher.safetensors" > "$out/teacher.path"
touch "$work/teacher-run/teacher.safetensors"
printf '{"images": 55040, "wall_s": 800.0}\n{"images": 110016, "wall_s": 1700.0}\n' \
  > "$work/teacher-run/metrics.jsonl"
# Two segments (the second resumed, its clock restarted) with learning-curve scores.
printf '%s\n' '{"images": 0, "wall_s": 10.0, "eval_fid": 20.0}' \
  '{"images": 6400, "wall_s": 600.0, "eval_fid": 2.0}' \
  '{"images": 6400, "wall_s": 5.0, "eval_fid": 2.0}' \
  '{"images": 12800, "wall_s": 700.0, "eval_fid": 1.3}' > "$out/uni-instruct/metrics.jsonl"
printf 'scripts/fmnist_one_step.sh --images 12800 --threads 2 --samples 10000\ncommit abc1234\n' \
  > "$out/invocation.txt"
printf 'onestep distill --preset fmnist-cpu --method uni-instruct --images 12800\nIt ran in two segments.\ncommit abc1234\n' \
  > "$out/uni-instruct.command.txt"
echo "1800.5 2" > "$out/teacher/sample.seconds"

"$python" "$table" "$out" > "$work/section.md" ||
  { echo "FAIL: fmnist_one_step_table.py exited with $?"; exit 1; }
s="$work/section.md"
expect "the invocation and commit" "$s" \
  "Made by \`scripts/fmnist_one_step.sh --images 12800 --threads 2 --samples 10000\` (commit abc1234)"
expect "the distillation's command" "$s" \
  "The distillation: \`onestep distill --preset fmnist-cpu --method uni-instruct --images 12800\`."
expect "how the run was made, from command.txt's later lines" "$s" "It ran in two segments."
if grep -q "^commit abc1234" "$s"; then echo "FAIL: command.txt's commit line copied as text"; fail=1; fi
expect "the floor row" "$s" "| training images (10,000 real) | – | 0.021 | -0.01 ± 0.02 | 0.930 | 0.920 | – | – |"
expect "the teacher row, training from its metrics.jsonl" "$s" \
  "| teacher (Heun, 18 steps) | 35 | 0.500 | 4.00 ± 0.10 | 0.810 | 0.770 | 28.3 min | 110,016 |"
expect "the one-step row: mean [range] over the seeds, wall time over both segments" "$s" \
  "| uni-instruct (JS), 1 step | 1 | 0.470 [0.450, 0.490] | 3.20 [3.00, 3.40] ± 0.13 | 0.830 [0.820, 0.840] | 0.710 [0.700, 0.720] | 21.7 min | 12,800 |"
expect "the verdict follows the worst seed" "$s" "(0.490 at worst against 0.500)"
expect "the teacher's sampling time" "$s" "Sampling the teacher's 10,000 images took 30.0 min on 2 threads."
expect "the curve's wall times summed over segments" "$s" "| wall time | 10 s | 10.0 min | 10.1 min | 21.7 min |"
expect "where the curve reaches the teacher at 1,000 samples" "$s" \
  "The curve first reaches the teacher's FID@1000 after 12,800 images (21.7 min)."

# A seed above the teacher: the verdict must say so.
eval_json "$out/uni-instruct-seed3" 10000 0.510 0.00340 0.00013 0.84 0.72
"$python" "$table" "$out" > "$s"
expect "a worse seed fails the verdict" "$s" "does **not** reach the teacher: FID 0.450–0.510 against 0.500"

# --replace-in: only the marked section changes; results_table.py keeps it.
printf '# Results\n\nabove\n\n<!-- fmnist-one-step:begin -->\nold section\n<!-- fmnist-one-step:end -->\n\nbelow\n' \
  > "$work/RESULTS.md"
"$python" "$table" "$out" --replace-in "$work/RESULTS.md" || { echo "FAIL: --replace-in"; fail=1; }
expect "text above the section kept" "$work/RESULTS.md" "above"
expect "text below the section kept" "$work/RESULTS.md" "below"
expect "the new section" "$work/RESULTS.md" "## Fashion-MNIST: one step against 35"
if grep -q "old section" "$work/RESULTS.md"; then echo "FAIL: --replace-in left the old section"; fail=1; fi
mkdir -p "$work/empty-runs"
"$python" "$results_table" "$work/empty-runs" --fmnist-images 2560 --samples 1000 --preset fmnist-cpu \
  --keep-from "$work/RESULTS.md" > "$work/RESULTS.new.md" || { echo "FAIL: results_table.py"; fail=1; }
expect "results_table.py carries the section over" "$work/RESULTS.new.md" "## Fashion-MNIST: one step against 35"

# An unfinished run directory is refused with a message, not a traceback.
rm "$out/uni-instruct-seed2/eval.json"
if msg="$("$python" "$table" "$out" 2>&1)"; then
  echo "FAIL: a missing seed's eval.json was accepted"; fail=1
elif ! grep -q "not all there yet" <<<"$msg"; then
  echo "FAIL: unclear refusal: $msg"; fail=1
fi
[ "$fail" = 0 ] && echo "fmnist_one_step_table: all checks passed"
exit "$fail"
