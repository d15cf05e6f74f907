#!/usr/bin/env bash
# The README's claim: `onestep teacher --preset toy` then `onestep sample` gives samples whose
# sliced Wasserstein distance to toy:25gaussians is within 2x of the data-vs-data noise floor.
# Usage: toy_pipeline_test.sh /path/to/onestep
set -euo pipefail
onestep="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$(date +%s.%N)
"$onestep" teacher --preset toy --data toy:25gaussians --out "$work/teacher" --preview 0 > "$work/teacher.log" 2>&1
middle=$(date +%s.%N)
"$onestep" sample --model "$work/teacher/teacher.safetensors" --n 4000 --out "$work/samples" | tee "$work/sample.log"
end=$(date +%s.%N)
printf 'teacher %.1f s, sampling %.1f s\n' "$(awk -v a="$middle" -v b="$start" 'BEGIN { print a - b }')" \
  "$(awk -v a="$end" -v b="$middle" 'BEGIN { print a - b }')"
ratio=$(grep -oE 'ratio [0-9.]+' "$work/sample.log" | grep -oE '[0-9.]+')
awk -v r="$ratio" 'BEGIN { exit !(r <= 2.0) }' || { echo "FAIL: distance is $ratio x the noise floor (limit 2)"; exit 1; }
echo "toy pipeline: sliced Wasserstein distance $ratio x the data-vs-data noise floor"
