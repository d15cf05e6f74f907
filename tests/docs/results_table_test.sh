#!/usr/bin/env bash
# scripts/results_table.py renders docs/RESULTS.md from run directories: every row must come from
# the runs' own files (eval.json, metrics.jsonl, config.json, .seconds, .threads), a run that
# stopped with an error must appear as failed with its error, and the setup text must describe
# what the runs really used. Fixture: one toy with a teacher, two finished runs and a failed one.
# Usage: results_table_test.sh PYTHON /path/to/scripts/results_table.py
set -uo pipefail
python="$1" table="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail=0
expect() {  # expect DESCRIPTION FIXED_STRING
  grep -qF -- "$2" "$work/RESULTS.md" || { echo "FAIL: $1: no line with '$2'"; fail=1; }
}

toy="$work/runs/25gaussians"
mkdir -p "$toy/teacher" "$toy/uni-instruct-js" "$toy/uni-instruct-forward-kl" "$toy/sid"
eval_json() {  # eval_json DIR MODES_COVERED HIGH_QUALITY SWD
  printf '{"modes": 25, "modes_covered": %s, "high_quality": %s, "high_quality_data": 0.9885,
  "sliced_wasserstein": %s, "sliced_wasserstein_floor": 0.0299, "mmd": 1.5e-4, "mmd_floor": -1.2e-4}\n' \
    "$2" "$3" "$4" > "$1/eval.json"
}
eval_json "$toy/teacher" 25 0.905 0.0476
eval_json "$toy/uni-instruct-forward-kl" 25 0.474 0.0970
eval_json "$toy/uni-instruct-js" 24 0.596 0.0910
echo '{"images": 2000384, "wall_s": 14.2}' > "$toy/teacher/metrics.jsonl"
for run in uni-instruct-forward-kl uni-instruct-js; do
  printf '{\n  "method": "uni-instruct",\n  "divergence": "%s",\n  "gan_weight": 3.0,\n  "regression": 1.0,\n  "batch": 512,\n  "lr_generator": 0.002,\n  "total_images": 8000000\n}\n' \
    "${run#uni-instruct-}" > "$toy/$run/config.json"
  printf '{"images": 4000256, "wall_s": 100.0}\n{"images": 8000000, "wall_s": 120.5}\n' \
    > "$toy/$run/metrics.jsonl"
  echo "1 2" > "$toy/$run.threads"
done
printf 'scripts/results.sh --toy-images 8000000 --jobs 2\ncommit abc1234\n' > "$toy/invocation.txt"
printf 'onestep distill --preset toy --method uni-instruct\ncommit abc1234\n' \
  > "$toy/uni-instruct-forward-kl/command.txt"
printf 'onestep distill --preset toy --method uni-instruct\ncommit abc1234\n' \
  > "$toy/uni-instruct-js/command.txt"
echo "121.0" > "$toy/uni-instruct-forward-kl.seconds"
echo "243.0" > "$toy/uni-instruct-js.seconds"
printf 'distill: starting\nonestep: error: distill: 50 steps in a row had a non-finite loss\n' > "$toy/sid.log"
echo "1 2" > "$toy/sid.threads"

"$python" "$table" "$work/runs" --fmnist-images 2560 --samples 1000 --preset fmnist-cpu \
  > "$work/RESULTS.md" || { echo "FAIL: results_table.py exited with $?"; exit 1; }

expect "the toy section" "## toy:25gaussians"
expect "the runs' budget and settings from config.json" \
  "--preset toy --method M --images 8000000\`, with \`--divergence D\` for the rows named M-D (generator images; batch 512, beta1 = 0)."
expect "the uni-instruct recipe from config.json" \
  "The uni-instruct rows: Adam lr 0.002, GAN weight 3, regression weight 1 (the preset's recipe"
expect "how the runs were trained, from .threads" \
  "Each run trained on 1 thread, 2 runs at a time (\`results.sh --jobs 2\`)."
expect "the invocation that made the section" \
  "Made by \`scripts/results.sh --toy-images 8000000 --jobs 2\` (commit abc1234 when last run)."
expect "the commits of the runs, from command.txt" "trained at commit \`abc1234\` (2 runs)."
expect "the teacher row" "| teacher (Heun, 18 steps) | 35 | 25/25 | 90.5% (data 98.9%) | 0.0476 (0.0299) |"
expect "a finished run's row, time from .seconds" \
  "| uni-instruct-js | 1 | 24/25 | 59.6% (data 98.9%) | 0.0910 (0.0299) | 1.50e-04 (-1.20e-04) | 4.0 min | 8,000,000 |"
expect "the failed run's row" "| sid | 1 | failed | | | | | |"
expect "the failed run's error" "**sid failed**: distill: 50 steps in a row had a non-finite loss"
expect "the verdict" "Best one-step run: **uni-instruct-js** with SWD 0.091 against the teacher's 0.0476"
if grep -q "fashion-mnist\|## Fashion-MNIST" "$work/RESULTS.md"; then
  echo "FAIL: a Fashion-MNIST section without Fashion-MNIST runs"; fail=1
fi
[ "$fail" = 0 ] && echo "results_table: all checks passed"
exit "$fail"
