#!/usr/bin/env bash
# Every subcommand checks its flags before any work: a value out of range, a missing path, a
# conflicting combination or a setting the data cannot take is one short message on stderr and
# exit code 2, and nothing is written. Each case names the words its message must hold (the flag
# and the reason), so a misspelt flag, which also exits 2, cannot pass for a rejected value.
# Usage: flags_test.sh /path/to/onestep
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"
cd "$work"

# usage MESSAGE ARGS...: exit code 2, a first line that contains MESSAGE (a fixed string), at most
# two lines (the message and the --help hint), no run folder.
usage() {
  local message="$1" out code; shift
  out="$("$onestep" "$@" 2>&1)"; code=$?
  [ "$code" -eq 2 ] || { fail "expected exit 2, got $code: $* -> $out"; return; }
  grep -qF -- "$message" <<<"$(head -n 1 <<<"$out")" ||
    fail "message does not say '$message': $* -> $out"
  [ "$(wc -l <<<"$out")" -le 2 ] || fail "message longer than two lines: $* -> $out"
  [ ! -e "$work/out" ] || { fail "$* created its output"; rm -rf "$work/out"; }
}

"$onestep" teacher --preset toy --hidden 8 --blocks 1 --images 1024 --preview 0 --out teacher \
  >/dev/null 2>&1 || fail "could not train the small teacher the tests use"
model="$work/teacher/teacher.safetensors"
touch a-file

# teacher: ranges
usage "--batch: must be in [1, 1048576], got 0" teacher --out out --batch 0
usage "--images: must be >= 1, got 0" teacher --out out --images 0
usage "--lr: must be in [1e-12, 10], got -1" teacher --out out --lr -1
usage "--lr: must be in [1e-12, 10], got 100" teacher --out out --lr 100
usage "--dropout: must be in [0, 0.99], got 1.5" teacher --out out --dropout 1.5
usage "--channels: must be in [4, 4096], got 2" teacher --out out --channels 2
usage "--channel-mult: must be in [1, 64], got 0" teacher --out out --channel-mult 1,0
usage "--seed: must be >= 0, got -1" teacher --out out --seed -1
usage "--max-consecutive-skips: must be in [1, 1000000000], got 0" teacher --out out --max-consecutive-skips 0
usage "--inject-nan-at: must be >= 1, got 0" teacher --out out --inject-nan-at 0
usage "--preview: must be in [0, 1000000], got -5" teacher --out out --preview -5
usage "--precision: must be one of fp32, bf16, got 'fp16'" teacher --out out --precision fp16
# teacher: paths and data
usage "--data: unknown dataset 'toy:nope'" teacher --out out --data toy:nope
usage "--data: dataset 'png:/nonexistent/pngs': folder '/nonexistent/pngs' does not exist" \
  teacher --out out --data png:/nonexistent/pngs
usage "--data: dataset 'fashion-mnist:/nonexistent/fm': folder '/nonexistent/fm' does not exist" \
  teacher --out out --data fashion-mnist:/nonexistent/fm --preset fmnist-cpu
usage "--data: dataset 'cifar10:/nonexistent/cifar': folder '/nonexistent/cifar' does not exist" \
  teacher --out out --data cifar10:/nonexistent/cifar --preset cifar10
usage "--out a-file: exists and is not a folder" teacher --out a-file
usage "teacher already holds a run; pass --resume to continue it or choose another --out" \
  teacher --out teacher
usage "--out: teacher: no run to resume in out" teacher --resume --out out
usage "--resume needs --out" teacher --resume
usage "--out /proc/nope: cannot create anything in /proc" teacher --out /proc/nope
usage "--data: Fashion-MNIST: missing file '/etc/train-images-idx3-ubyte.gz'" \
  teacher --out out --preset fmnist-cpu --data fashion-mnist:/etc
usage "--device: unknown device 'gpu'" teacher --out out --device gpu
usage "--device: unknown device 'cuda:x'" teacher --out out --device cuda:x
# teacher: conflicts and settings the data cannot take
usage "--lr cannot be combined with --resume" teacher --resume --out teacher --lr 0.1
usage "--cond needs labelled data" teacher --out out --cond --data toy:swissroll   # no classes
usage "needs the MLP network (arch mlp, as the toy preset has)" teacher --out out --arch songunet
usage "--channel-mult has 7 levels, so the resolution halves 6 times, but 32 does not" \
  teacher --out out --preset fmnist-cpu --channel-mult 1,1,1,1,1,1,1
usage "needs a U-Net (arch songunet or dhariwalunet)" teacher --out out --preset fmnist-cpu --arch mlp

# sample
usage "--model: File does not exist" sample --model "$work/missing.safetensors"
usage "--n: must be in [1, 100000000], got 0" sample --model "$model" --n 0
usage "--steps: must be in [1, 100000], got 0" sample --model "$model" --steps 0
usage "need 0 < --sigma-min < --sigma-max < inf, got 10 and 1" \
  sample --model "$model" --sigma-min 10 --sigma-max 1
usage "--sampler: must be one of heun, euler, got 'rk4'" sample --model "$model" --sampler rk4
usage "--noise: File does not exist" sample --model "$model" --noise "$work/missing.npy"
usage "--n and --noise conflict" sample --model "$model" --noise "$model" --n 5
usage "--out a-file: exists and is not a folder" sample --model "$model" --out a-file
usage "--out /proc/nope: cannot create anything in /proc" sample --model "$model" --out /proc/nope
usage "--data: unknown dataset 'toy:nope'" sample --model "$model" --data toy:nope
usage "--device: unknown device 'gpu'" sample --model "$model" --device gpu
usage "--class given, but $model is unconditional" sample --model "$model" --class 3
usage "--precision: must be one of fp32, bf16, got 'fp16'" sample --model "$model" --precision fp16

# distill
usage "--teacher $work/missing.safetensors does not exist" \
  distill --preset toy --teacher "$work/missing.safetensors" --out out
usage "--method: must be one of uni-instruct, uni-instruct-official, sid, sida, sim, diff-instruct, dmd, dmd2, f-distill, got 'gan'" distill --preset toy --teacher "$model" --out out --method gan
usage "--divergence: unknown divergence 'nope'" \
  distill --preset toy --teacher "$model" --out out --divergence nope
usage "--lr sets both learning rates; it cannot be combined with --lr-generator" \
  distill --preset toy --teacher "$model" --out out --lr 1e-4 --lr-generator 1e-4
usage "--alpha applies only to --divergence alpha" \
  distill --preset toy --teacher "$model" --out out --alpha 0.5 --divergence jeffreys
usage "--data: dataset 'png:/nonexistent/pngs': folder '/nonexistent/pngs' does not exist" \
  distill --preset toy --teacher "$model" --out out --data png:/nonexistent/pngs
usage "--batch: must be in [1, 1048576], got 0" distill --preset toy --teacher "$model" --out out --batch 0
usage "--max-consecutive-skips: must be in [1, 1000000000], got 0" \
  distill --preset toy --teacher "$model" --out out --max-consecutive-skips 0
usage "--out a-file: exists and is not a folder" distill --preset toy --teacher "$model" --out a-file
usage "--out: distill: no run to resume in out" distill --resume --out out
usage "--teacher cannot be combined with --resume" distill --resume --teacher "$model"
usage "--teacher /etc/passwd is not a network onestep can load" \
  distill --preset toy --teacher /etc/passwd --out out
usage "--disc-sigma: must be one of grid, lognormal, got 'nope'" \
  distill --preset toy --teacher "$model" --out out --disc-sigma nope
usage "--disc-head: must be one of mean, learned, got 'nope'" \
  distill --preset toy --teacher "$model" --out out --disc-head nope
usage "--lr-disc-head: must be in [0, 1], got -1" \
  distill --preset toy --teacher "$model" --out out --lr-disc-head -1
usage "--gan-over-nu cannot be combined with --resume" distill --resume --out out --gan-over-nu
usage "--eval-every: must be >= 0, got -1" \
  distill --preset toy --teacher "$model" --out out --eval-every -1
usage "--eval-samples: must be in [2, 1000000], got 1" \
  distill --preset toy --teacher "$model" --out out --eval-every 1000 --eval-samples 1
usage "--eval-features missing.safetensors does not exist" \
  distill --preset toy --teacher "$model" --out out --eval-every 1000 --eval-features missing.safetensors
usage "--regression-weight: must be >= 0, got -1" \
  distill --preset toy --teacher "$model" --out out --regression-weight -1
usage "--precision: must be one of fp32, bf16, got 'fp16'" \
  distill --preset toy --teacher "$model" --out out --precision fp16

# eval
usage "nothing to do: pass --samples (or --train-features)" eval
usage "--samples $work/missing.npy: no such file or folder" eval --samples "$work/missing.npy"
usage "--data: unknown dataset 'toy:nope'" eval --samples a-file --data toy:nope
usage "--labels applies to images" eval --samples a-file --data toy:25gaussians --labels a-file
usage "--epochs applies only to --train-features" eval --samples a-file --epochs 3
usage "--train-features and --samples are separate jobs" eval --samples a-file --train-features
usage "--train-features needs image data" eval --train-features --data toy:25gaussians
usage "--features $work/missing.safetensors: no such file" \
  eval --samples a-file --features "$work/missing.safetensors"
usage "--kid-size: must be in [2, 100000], got 1" eval --samples a-file --kid-size 1
usage "--train-features needs --features FILE" eval --train-features --data fashion-mnist

# bench
usage "--batch: must be in [1, 65536], got 0" bench --batch 0
usage "--seed: must be >= 0, got -1" bench --seed -1
usage "--steps: must be in [10, 100000], got 5" bench --steps 5
usage "--device: unknown device 'gpu'" bench --device gpu
usage "--precision: must be one of fp32, bf16, got 'fp16'" bench --precision fp16

# The check itself: a misspelt flag also exits 2, but its message names no reason above.
out="$("$onestep" teacher --out out --bacth 0 2>&1)"
grep -qF -- "--batch: must be in [1, 1048576], got 0" <<<"$out" &&
  fail "a misspelt flag passed for a range error: $out"

finish "flags_test: all checks passed"
