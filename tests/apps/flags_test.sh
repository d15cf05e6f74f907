#!/usr/bin/env bash
# Every subcommand checks its flags before any work: a value out of range, a missing path, a
# conflicting combination or a setting the data cannot take is one short message on stderr and
# exit code 2, and nothing is written.
# Usage: flags_test.sh /path/to/onestep
set -uo pipefail
onestep="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
cd "$work"

# usage ARGS...: exit code 2, at most two lines (the message and the --help hint), no run folder.
usage() {
  local out code
  out="$("$onestep" "$@" 2>&1)"; code=$?
  [ "$code" -eq 2 ] || { fail "expected exit 2, got $code: $* -> $out"; return; }
  [ "$(wc -l <<<"$out")" -le 2 ] || fail "message longer than two lines: $* -> $out"
  [ ! -e "$work/out" ] || { fail "$* created its output"; rm -rf "$work/out"; }
}

"$onestep" teacher --preset toy --hidden 8 --blocks 1 --images 1024 --preview 0 --out teacher \
  >/dev/null 2>&1 || fail "could not train the small teacher the tests use"
model="$work/teacher/teacher.safetensors"
touch a-file

# teacher: ranges
usage teacher --out out --batch 0
usage teacher --out out --images 0
usage teacher --out out --lr -1
usage teacher --out out --lr 100
usage teacher --out out --dropout 1.5
usage teacher --out out --channels 2
usage teacher --out out --channel-mult 1,0
usage teacher --out out --seed -1
usage teacher --out out --max-consecutive-skips 0
usage teacher --out out --inject-nan-at 0
usage teacher --out out --preview -5
# teacher: paths and data
usage teacher --out out --data toy:nope
usage teacher --out out --data png:/nonexistent/pngs
usage teacher --out out --data fashion-mnist:/nonexistent/fm --preset fmnist-cpu
usage teacher --out out --data cifar10:/nonexistent/cifar --preset cifar10
usage teacher --out a-file
usage teacher --out teacher            # already holds a run
usage teacher --resume --out out       # nothing to resume
usage teacher --resume                 # which run?
usage teacher --out out --device gpu
usage teacher --out out --device cuda:x
# teacher: conflicts and settings the data cannot take
usage teacher --resume --out teacher --lr 0.1
usage teacher --out out --cond         # toy data has no labels
usage teacher --out out --arch songunet
usage teacher --out out --preset fmnist-cpu --channel-mult 1,1,1,1,1,1,1  # 32 px halves 5 times
usage teacher --out out --preset fmnist-cpu --arch mlp

# sample
usage sample --model "$work/missing.safetensors"
usage sample --model "$model" --n 0
usage sample --model "$model" --steps 0
usage sample --model "$model" --sigma-min 10 --sigma-max 1
usage sample --model "$model" --sampler rk4
usage sample --model "$model" --noise "$work/missing.npy"
usage sample --model "$model" --noise "$model" --n 5
usage sample --model "$model" --out a-file
usage sample --model "$model" --data toy:nope
usage sample --model "$model" --device gpu
usage sample --model "$model" --class 3  # unconditional model

# distill
usage distill --preset toy --teacher "$work/missing.safetensors" --out out
usage distill --preset toy --teacher "$model" --out out --method gan
usage distill --preset toy --teacher "$model" --out out --divergence nope
usage distill --preset toy --teacher "$model" --out out --lr 1e-4 --lr-generator 1e-4
usage distill --preset toy --teacher "$model" --out out --alpha 0.5 --divergence jeffreys
usage distill --preset toy --teacher "$model" --out out --data png:/nonexistent/pngs
usage distill --preset toy --teacher "$model" --out out --batch 0
usage distill --preset toy --teacher "$model" --out out --max-consecutive-skips 0
usage distill --preset toy --teacher "$model" --out a-file
usage distill --resume --out out
usage distill --resume --teacher "$model"
usage distill --preset toy --teacher "$model" --out out --disc-sigma nope
usage distill --preset toy --teacher "$model" --out out --disc-head nope
usage distill --preset toy --teacher "$model" --out out --lr-disc-head -1
usage distill --resume --out out --gan-over-nu
usage distill --preset toy --teacher "$model" --out out --eval-every -1
usage distill --preset toy --teacher "$model" --out out --eval-every 1000 --eval-samples 1
usage distill --preset toy --teacher "$model" --out out --eval-every 1000 --eval-features missing.safetensors
usage distill --preset toy --teacher "$model" --out out --regression-weight -1

# eval
usage eval
usage eval --samples "$work/missing.npy"
usage eval --samples a-file --data toy:nope
usage eval --samples a-file --data toy:25gaussians --labels a-file
usage eval --samples a-file --epochs 3
usage eval --samples a-file --train-features
usage eval --train-features --data toy:25gaussians
usage eval --samples a-file --features "$work/missing.safetensors"
usage eval --samples a-file --kid-size 1

# demo
usage demo --out a-file
usage demo --out out --steps 0

# bench
usage bench --batch 0
usage bench --seed -1
usage bench --steps 5
usage bench --device gpu

if [ "$failures" -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "flags_test: all checks passed"
