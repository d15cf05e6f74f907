#!/usr/bin/env bash
# The onestep binary copied alone into an empty folder, away from the source and build trees,
# runs the whole pipeline on Fashion-MNIST: teacher, distillation with its learning curve (FID
# with the feature network built into the binary), sampling and eval's FID. HOME is a scratch
# folder, so the cached test-split features land there and nowhere else.
# Usage: standalone_test.sh /path/to/onestep
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"

mkdir -p "$work/bin" "$work/home" "$work/run"
cp "$onestep" "$work/bin/onestep"
export HOME="$work/home"
unset XDG_CACHE_HOME
cd "$work/run"
bin="$work/bin/onestep"

# step NAME CMD...: runs CMD, which must succeed; its output is kept in $out.
step() {
  local name="$1"; shift
  out="$("$@" 2>&1)" || { fail "$name failed: $* -> $out"; finish; }
}

step teacher "$bin" teacher --preset fmnist-cpu --images 64 --batch 32 --channels 8 --preview 0 \
  --out teacher
step distill "$bin" distill --preset fmnist-cpu --teacher teacher/teacher.safetensors --images 64 \
  --batch 32 --preview 0 --eval-every 64 --eval-samples 100 --out distill
grep -q '"eval_fid"' distill/metrics.jsonl || fail "the distillation's learning curve has no FID"
step sample "$bin" sample --model distill/generator.safetensors --n 200 --out samples
step eval "$bin" eval --samples samples/samples.npy --data fashion-mnist
grep -q 'FID' <<<"$out" || fail "eval printed no FID: $out"
grep -q '"fid"' samples/metrics-eval.json || fail "eval wrote no FID: $(cat samples/metrics-eval.json)"
grep -q 'features: builtin' <<<"$out" || fail "eval did not use the built-in network: $out"
ls "$HOME/.cache/onestep/"*.safetensors >/dev/null 2>&1 ||
  fail "the test-split features were not cached in \$HOME/.cache/onestep"
[ "$(ls "$work/run")" = "$(printf 'distill\nsamples\nteacher')" ] ||
  fail "the run wrote outside its --out folders: $(ls "$work/run")"
finish "standalone: teacher, distill (with FID), sample and eval ran from a lone binary"
