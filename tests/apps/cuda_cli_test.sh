#!/usr/bin/env bash
# The onestep command on --device cuda: a toy teacher, a uni-instruct distillation of it and
# sampling, each run on the GPU (or the CUDA emulator), must finish and write what it promises.
# Without a usable device it prints gtest's skip marker, which the test's
# SKIP_REGULAR_EXPRESSION turns into a skipped test. (tests/distill/test_cuda_training compares
# the same training with the CPU run of its seed.)
# Usage: cuda_cli_test.sh /path/to/onestep
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"

out="$("$onestep" teacher --preset toy --device cuda --images 1024 --out "$work/teacher" 2>&1)"
# The CLI's own refusal ("no usable CUDA device here") or the library's, passed through.
if grep -q "no usable CUDA device\|CUDA is not available\|built without CUDA" <<<"$out"; then
  echo "[  SKIPPED ] no usable CUDA device: $out"
  exit 0
fi
[ -f "$work/teacher/teacher.safetensors" ] || fail "teacher on cuda wrote no teacher: $out"
grep -q "0 skipped steps" <<<"$out" || fail "teacher on cuda skipped steps: $out"

# No regression pairs: 256 teacher ODE solves take most of a minute on the emulator under ASan
# (test_cuda_training runs the toy recipe with them).
out="$("$onestep" distill --preset toy --device cuda --images 1024 --regression-weight 0 \
  --teacher "$work/teacher/teacher.safetensors" --out "$work/distill" 2>&1)" ||
  fail "distill on cuda exited $?: $out"
[ -f "$work/distill/generator.safetensors" ] || fail "distill on cuda wrote no generator: $out"
grep -q "0 skipped steps" <<<"$out" || fail "distill on cuda skipped steps: $out"

out="$("$onestep" sample --device cuda --model "$work/distill/generator.safetensors" \
  --out "$work/samples" 2>&1)" || fail "sample on cuda exited $?: $out"
[ -f "$work/samples/samples.npy" ] || fail "sample on cuda wrote no samples.npy: $out"
grep -q "sliced Wasserstein distance" <<<"$out" || fail "sample on cuda printed no score: $out"

finish "cuda cli: teacher, distill and sample ran on --device cuda"
