#!/usr/bin/env bash
# The onestep command end to end: version, flag validation (exit 2, one line), clear errors for
# bad data, a small teacher run and sampling, and SIGINT -> checkpoint -> --resume.
# Usage: cli_test.sh /path/to/onestep
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"

# expect CODE CMD...: runs CMD, checks its exit code, keeps stdout+stderr in $out.
expect() {
  local code="$1"; shift
  out="$("$@" 2>&1)"; local got=$?
  [ "$got" -eq "$code" ] || fail "expected exit $code, got $got: $* -> $out"
}

expect 0 "$onestep" --version
grep -q "^onestep [0-9]" <<<"$out" || fail "--version printed: $out"

# Bad flags: exit 2 and a short message, before any work.
expect 2 "$onestep" teacher --batch 0
expect 2 "$onestep" teacher --preset nope
expect 2 "$onestep" sample
expect 2 "$onestep" sample --model "$work/missing.safetensors"
expect 2 "$onestep" frobnicate
[ "$(wc -l <<<"$out")" -le 3 ] || fail "usage error is not short: $out"

# A missing data folder is a bad flag: exit 2 and a message naming the path (more in
# flags_test.sh).
expect 2 "$onestep" teacher --preset fmnist-cpu --data "fashion-mnist:$work/nowhere" --out "$work/x"
grep -q "nowhere" <<<"$out" || fail "missing-path error does not name the path: $out"
# Bad data: exit 1 and one line naming the problem.
mkdir -p "$work/truncated"
printf '\x1f\x8b\x08\x00' > "$work/truncated/train-images-idx3-ubyte.gz"
printf '\x1f\x8b\x08\x00' > "$work/truncated/train-labels-idx1-ubyte.gz"
expect 1 "$onestep" teacher --preset fmnist-cpu --data "fashion-mnist:$work/truncated" --out "$work/y"
grep -q "train-images-idx3-ubyte.gz" <<<"$out" || fail "truncated-file error does not name the file: $out"
# A misspelt device: a usage error that says what is accepted, before any work.
expect 2 "$onestep" teacher --preset toy --device gpu --out "$work/device"
grep -q "unknown device 'gpu': expected cpu, cuda or cuda:N" <<<"$out" || fail "bad --device error: $out"
[ ! -e "$work/device" ] || fail "bad --device: the run folder was created"
# --device cuda in a build without CUDA: refused before any work, naming the flag and the way
# out (the library's own message names no flag; the command adds it).
if "$onestep" --version | grep -q "CUDA off"; then
  expect 2 "$onestep" teacher --preset toy --device cuda --out "$work/cuda"
  # (the settings hold the device as parsed: cuda is cuda:0)
  grep -q "^onestep: --device cuda:0: this onestep was built without CUDA; .* or use --device cpu" <<<"$out" ||
    fail "--device cuda in a build without CUDA: $out"
  [ ! -e "$work/cuda" ] || fail "--device cuda without CUDA: the run folder was created"
fi

# A small teacher and sampling from it.
run="$work/toy"
expect 0 "$onestep" teacher --preset toy --hidden 32 --images 40960 --log-every 10240 --preview 200 --out "$run"
for f in config.json metrics.jsonl teacher.safetensors state.safetensors samples.png; do
  [ -s "$run/$f" ] || fail "teacher did not write $f"
done
[ "$(wc -l < "$run/metrics.jsonl")" -eq 4 ] || fail "expected 4 metrics lines: $(cat "$run/metrics.jsonl")"
expect 2 "$onestep" teacher --resume --out "$run" --lr 0.1   # settings come from config.json

# --precision bf16: recorded in config.json, named in the header line, changeable on resume (not
# a training setting); a bad value is a usage error naming the flag and what it accepts.
bf16="$work/bf16"
expect 0 "$onestep" teacher --preset toy --hidden 32 --images 10240 --preview 0 --precision bf16 --out "$bf16"
grep -q '"precision": "bf16"' "$bf16/config.json" || fail "bf16 run: config.json has no precision: $(cat "$bf16/config.json")"
grep -q "^onestep teacher: .*, bf16 (" <<<"$out" || fail "bf16 run: header does not name bf16: $out"
expect 0 "$onestep" teacher --resume --out "$bf16" --images 20480 --precision fp32
grep -q '"precision": "fp32"' "$bf16/config.json" || fail "resumed in fp32: config.json still says bf16"
expect 0 "$onestep" sample --model "$bf16/teacher.safetensors" --n 16 --steps 4 --precision bf16 --out "$work/bf16-samples"
[ -s "$work/bf16-samples/samples.npy" ] || fail "sample --precision bf16 wrote no samples: $out"
expect 2 "$onestep" teacher --preset toy --precision fp16 --out "$work/fp16"
grep -q -- "--precision: must be one of fp32, bf16, got 'fp16'" <<<"$out" || fail "bad --precision error: $out"
[ ! -e "$work/fp16" ] || fail "bad --precision: the run folder was created"
expect 0 "$onestep" sample --model "$run/teacher.safetensors" --n 300 --steps 6 --out "$run/samples"
grep -q "sliced Wasserstein" <<<"$out" || fail "sample did not report the 2-D distance: $out"
for f in samples.npy samples.png metrics.json; do [ -s "$run/samples/$f" ] || fail "sample did not write $f"; done
expect 2 "$onestep" sample --model "$run/teacher.safetensors" --class 3
# Latents from a file (here the float32 [300, 2] samples just written).
expect 0 "$onestep" sample --model "$run/teacher.safetensors" --noise "$run/samples/samples.npy" --steps 4 --out "$run/from-noise"
grep -q "300 samples" <<<"$out" || fail "--noise did not set the sample count: $out"
printf 'not a npy file' > "$work/bad.npy"
expect 1 "$onestep" sample --model "$run/teacher.safetensors" --noise "$work/bad.npy" --out "$run/bad-noise"
# A one-step generator from the teacher, sampled with one evaluation.
expect 0 "$onestep" distill --preset toy --teacher "$run/teacher.safetensors" --method sid --images 5120 --log-every 2560 --preview 0 --out "$run/sid"
# 5120 images end inside the generator's warm-up: the progress and the summary say so instead of
# printing a NaN loss.
grep -q "no generator update yet (warm-up)" <<<"$out" && grep -q "generator warm-up" <<<"$out" &&
  ! grep -qi "nan" <<<"$out" || fail "distill ending in its warm-up: $out"
# The preset's settings follow --method: sid gets its defaults, not uni-instruct's toy recipe.
grep -q '"gan_weight": -1' "$run/sid/config.json" && grep -q '"lr_generator": 0.001' "$run/sid/config.json" ||
  fail "distill --preset toy --method sid did not keep sid's defaults: $(cat "$run/sid/config.json")"
expect 0 "$onestep" sample --model "$run/sid/generator.safetensors" --n 200 --out "$run/sid/samples"
grep -q "1 network evaluation" <<<"$out" || fail "a generator was not sampled in one step: $out"
expect 2 "$onestep" distill --preset toy --teacher "$run/teacher.safetensors" --method gan

# SIGINT writes a checkpoint; --resume continues from it.
long="$work/long"
"$onestep" teacher --preset toy --hidden 32 --images 100000000 --log-every 5120 --out "$long" > "$work/long.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -s "$long/metrics.jsonl" ] && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"; code=$?
[ "$code" -eq 130 ] || fail "SIGINT exit code $code (expected 130): $(cat "$work/long.log")"
stopped=$(grep -oE '^[0-9]+ steps, [0-9]+ images' "$work/long.log" | grep -oE '[0-9]+ images' | grep -oE '[0-9]+')
[ -n "$stopped" ] || fail "no summary after SIGINT: $(cat "$work/long.log")"
expect 0 "$onestep" teacher --resume --out "$long" --images $((stopped + 5120)) --log-every 5120
grep -q "$((stopped + 5120)) images" <<<"$out" || fail "resume did not reach $((stopped + 5120)) images: $out"

# onestep eval: 2-D metrics, and one clear error for malformed samples.
expect 0 "$onestep" eval --samples "$run/samples/samples.npy" --data toy:25gaussians
grep -q "modes covered" <<<"$out" || fail "eval printed no mode statistics: $out"
[ -s "$run/samples/metrics-eval.json" ] || fail "eval wrote no metrics-eval.json"
# sample --seed 0 scored against the data eval draws with --seed 1: the same scores, same keys.
expect 0 "$onestep" eval --samples "$run/samples/samples.npy" --data toy:25gaussians --seed 1 --out "$work/eval-seed1.json"
scores() { grep -oE '"(sliced_wasserstein|sliced_wasserstein_floor|mmd|mmd_floor|modes_covered|high_quality|high_quality_data)": [^,}]+' "$1"; }
[ "$(scores "$run/samples/metrics.json")" = "$(scores "$work/eval-seed1.json")" ] && [ "$(scores "$work/eval-seed1.json" | wc -l)" -eq 7 ] ||
  fail "sample and eval --seed 1 disagree: $(cat "$run/samples/metrics.json") vs $(cat "$work/eval-seed1.json")"
expect 2 "$onestep" eval --samples "$run/samples/samples.npy" --data fashion-mnist   # float points, not images
grep -q "uint8" <<<"$out" || fail "wrong-dtype error does not say what was expected: $out"
# A uint8 npy of 5x5 images: NumPy's v1.0 header padded to 128 bytes, then 50 zero bytes.
header="{'descr': '|u1', 'fortran_order': False, 'shape': (2, 5, 5, 1), }"
{ printf '\x93NUMPY\x01\x00\x76\x00'; printf '%-117s\n' "$header"; head -c 50 /dev/zero; } > "$work/small.npy"
expect 2 "$onestep" eval --samples "$work/small.npy" --data fashion-mnist
grep -q "28x28 or 32x32" <<<"$out" || fail "wrong-shape error does not say what was expected: $out"
mkdir -p "$work/empty"
expect 1 "$onestep" eval --samples "$work/empty" --data fashion-mnist
[ "$(grep -c 'onestep: error' <<<"$out")" -eq 1 ] || fail "empty folder: expected one error line: $out"
expect 2 "$onestep" eval --data fashion-mnist

finish "cli_test: all checks passed"
