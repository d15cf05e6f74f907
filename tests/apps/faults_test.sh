#!/usr/bin/env bash
# Training never loses work, through the onestep command: kill -9 at random moments (during
# training and during checkpoint writes) always leaves a loadable checkpoint, and resuming after
# every kill ends with a model byte-identical to an uninterrupted run's; NaN injection is skipped,
# counted in metrics.jsonl, and too many in a row stop the run with a clear message; a full disk
# (ulimit -f) and corrupt checkpoints give one clear error line and keep the last checkpoint.
# Usage: faults_test.sh /path/to/onestep
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"
# Bit-exact resume needs the same thread count in every invocation.
export ONESTEP_THREADS=1

expect() {
  local code="$1"; shift
  out="$("$@" 2>&1)"; local got=$?
  [ "$got" -eq "$code" ] || fail "expected exit $code, got $got: $* -> $out"
}
one_error_line() {
  [ "$(grep -c 'onestep: error' <<<"$out")" -eq 1 ] || fail "expected one error line: $out"
}
flip_byte() {  # FILE OFFSET: inverts one bit of the byte at OFFSET
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "\\x$(printf %02x $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
loadable() {  # a model file that onestep sample accepts
  "$onestep" sample --model "$1" --n 4 --steps 2 --out "$work/probe" >/dev/null 2>&1
}

# Small and fast, with a checkpoint after every step: most of the time is spent writing them.
train=(teacher --preset toy --hidden 16 --blocks 1 --batch 256 --lr-warmup 0 --preview 0)
images=307200  # 1200 steps
log_every=2560

# --- kill -9 at random moments, resume each time, compare with an uninterrupted run.
"$onestep" "${train[@]}" --images $images --log-every $log_every --out "$work/straight" >/dev/null 2>&1 ||
  fail "uninterrupted run failed"
run="$work/killed"
kills=0
mid_write=0
RANDOM=7
for attempt in $(seq 1 12); do
  if [ -s "$run/state.safetensors" ]; then
    "$onestep" teacher --resume --out "$run" --images $images --log-every $log_every >/dev/null 2>&1 &
  else
    "$onestep" "${train[@]}" --images $images --log-every $log_every --checkpoint-every 256 \
      --out "$run" >/dev/null 2>&1 &
  fi
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))"
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"
    kills=$((kills + 1))
  fi
  wait "$pid" 2>/dev/null
  # A temp file left behind means the kill landed in the middle of a checkpoint write.
  ls "$run" 2>/dev/null | grep -q '\.tmp\.' && mid_write=$((mid_write + 1))
  if [ -e "$run/state.safetensors" ]; then
    loadable "$run/teacher.safetensors" || fail "after kill $kills: teacher.safetensors does not load"
  fi
  grep -q '"images": '"$images" "$run/metrics.jsonl" 2>/dev/null && break
done
[ "$kills" -ge 3 ] || fail "only $kills kills landed; the run is too fast for this test"
expect 0 "$onestep" teacher --resume --out "$run" --images $images --log-every $log_every
cmp -s "$work/straight/teacher.safetensors" "$run/teacher.safetensors" ||
  fail "after $kills kill -9 and resumes, teacher.safetensors differs from the uninterrupted run's"
ls "$run" | grep -q '\.tmp\.' && fail "temp files left behind: $(ls "$run")"
echo "kill -9: $kills kills ($mid_write of them during a checkpoint write), resumed to a byte-identical teacher"

# --- NaN injection: skipped and counted; too many in a row stop the run.
expect 0 "$onestep" "${train[@]}" --images 2560 --log-every 1280 --inject-nan-at 2,3 \
  --inject-nan-grad-at 7 --out "$work/nan"
tail -1 "$work/nan/metrics.jsonl" | grep -q '"skipped_steps": 3' ||
  fail "metrics.jsonl does not count 3 skipped steps: $(tail -1 "$work/nan/metrics.jsonl")"
grep -q "(3 skipped steps)" <<<"$out" || fail "summary does not count the skipped steps: $out"
expect 1 "$onestep" "${train[@]}" --images 2560 --inject-nan-at 4,5,6,7 --max-consecutive-skips 4 \
  --out "$work/nan-stop"
one_error_line
grep -q "steps 4-7 (4 in a row).*--max-consecutive-skips.*last good step (3) are saved" <<<"$out" ||
  fail "unclear stop message: $out"
tail -1 "$work/nan-stop/metrics.jsonl" | grep -q '"skipped_steps": 4' || fail "stop not logged"
loadable "$work/nan-stop/teacher.safetensors" || fail "the stopped run's teacher does not load"
expect 0 "$onestep" teacher --resume --out "$work/nan-stop"
# Distillation: each update of iteration 2 (fake score and generator) is skipped.
expect 0 "$onestep" distill --preset toy --teacher "$work/straight/teacher.safetensors" --method sid \
  --images 1024 --batch 128 --generator-warmup 0 --log-every 1024 --preview 0 --inject-nan-at 2 \
  --out "$work/distill-nan"
tail -1 "$work/distill-nan/metrics.jsonl" | grep -q '"skipped_steps": 2' ||
  fail "distill metrics do not count 2 skipped updates: $(tail -1 "$work/distill-nan/metrics.jsonl")"

# --- A full disk: a file-size limit below the checkpoint's size (onestep ignores SIGXFSZ, so the
# write fails with EFBIG instead of killing it).
full="$work/full"
"$onestep" "${train[@]}" --images 2560 --out "$full" >/dev/null 2>&1 || fail "run for the disk test"
cp "$full/state.safetensors" "$work/state.before"
size_kib=$(( $(stat -c %s "$full/state.safetensors") / 1024 ))
expect 1 bash -c "ulimit -f $((size_kib / 2)); exec '$onestep' teacher --resume --out '$full' --images 5120"
one_error_line
grep -q "cannot write.*state.safetensors.*File too large" <<<"$out" || fail "unclear disk-full error: $out"
cmp -s "$full/state.safetensors" "$work/state.before" || fail "the last checkpoint changed"
expect 0 "$onestep" teacher --resume --out "$full" --images 5120

# --- Corrupt checkpoints: one clear error line, on --resume and on sample.
corrupt="$work/corrupt"
cp -r "$work/nan" "$corrupt"
size=$(stat -c %s "$corrupt/state.safetensors")
flip_byte "$corrupt/state.safetensors" $((size - 9))
expect 1 "$onestep" teacher --resume --out "$corrupt" --images 5120
one_error_line
grep -q "state.safetensors.*checksum mismatch" <<<"$out" || fail "bit flip not reported: $out"
truncate -s $((size - 100)) "$corrupt/state.safetensors"
expect 1 "$onestep" teacher --resume --out "$corrupt" --images 5120
one_error_line
grep -q "truncated" <<<"$out" || fail "truncation not reported: $out"
msize=$(stat -c %s "$corrupt/teacher.safetensors")
flip_byte "$corrupt/teacher.safetensors" $((msize - 9))
expect 1 "$onestep" sample --model "$corrupt/teacher.safetensors" --out "$work/corrupt-samples"
one_error_line
grep -q "teacher.safetensors.*checksum mismatch" <<<"$out" || fail "bit flip in the model not reported: $out"
head -c 20 "$work/nan/teacher.safetensors" > "$corrupt/teacher.safetensors"
expect 1 "$onestep" sample --model "$corrupt/teacher.safetensors" --out "$work/corrupt-samples"
one_error_line

finish "faults_test: all checks passed"
