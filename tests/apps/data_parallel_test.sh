#!/usr/bin/env bash
# `mpirun -np 2 onestep teacher|distill` (a build with ONESTEP_MPI; docs/DISTRIBUTED.md): two
# ranks train and distill end to end with rank 0 alone printing and writing, `onestep sample` as
# two ranks and a global batch the ranks cannot share are refused, a stop signal (to mpirun or to
# the ranks) checkpoints and the run resumes, a rank killed mid-run (kill -9) makes the job exit
# non-zero within a bounded time, and so does a rank that hangs (SIGSTOP), through the wait limit
# ONESTEP_DIST_TIMEOUT.
# In a build without MPI: a launch as several ranks is refused with the reason.
# Usage: data_parallel_test.sh /path/to/onestep
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"
mpirun_sh="$(dirname "${BASH_SOURCE[0]}")/../run/mpirun_test.sh"
# In the background as `bash "$mpirun_sh" ... &`, so that $! is mpirun itself (the script execs it).
mpirun_2() { bash "$mpirun_sh" "$@"; }

if ! "$onestep" --version | grep -q "data parallel MPI"; then
  # As mpirun would start it: each copy would train alone and all would write the same files.
  out="$(OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 "$onestep" teacher --preset toy \
    --images 256 --out "$work/alone" 2>&1)"
  [ $? -eq 1 ] || fail "a 2-rank launch of a build without MPI did not exit 1: $out"
  grep -q "built without MPI; rebuild with -DONESTEP_MPI=ON" <<<"$out" || fail "no reason: $out"
  [ ! -e "$work/alone" ] || fail "the refused launch created its run directory"
  finish "ok: a build without MPI refuses a launch as 2 ranks"
fi

# The pid of rank RANK of the job whose command line holds TEXT ("" until it runs).
rank_pid() {
  local pid
  for pid in $(pgrep -f -- "$2"); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
      echo "$pid"
      return
    fi
  done
}
# Waits until FILE exists (at most 120 s).
wait_for() {
  local i
  for i in $(seq 1200); do [ -s "$1" ] && return 0; sleep 0.1; done
  return 1
}

toy=(teacher --preset toy --hidden 16 --blocks 1 --preview 16)

# --- End to end: teacher and distillation on two ranks.
out="$(mpirun_2 "$onestep" "${toy[@]}" --batch 128 --images 12800 --log-every 2560 \
  --out "$work/teacher" 2>&1)" || fail "2-rank teacher failed: $out"
[ "$(grep -c "data parallel: 2 ranks over mpi" <<<"$out")" -eq 1 ] || fail "expected one banner: $out"
[ "$(grep -c "^teacher: " <<<"$out")" -eq 1 ] || fail "expected rank 0 alone to print the result: $out"
for f in config.json metrics.jsonl teacher.safetensors state.safetensors samples.png; do
  [ -s "$work/teacher/$f" ] || fail "2-rank teacher wrote no $f"
done
[ "$(wc -l <"$work/teacher/metrics.jsonl")" -eq 5 ] || fail "metrics.jsonl: $(cat "$work/teacher/metrics.jsonl")"
out="$(mpirun_2 "$onestep" distill --preset toy --teacher "$work/teacher/teacher.safetensors" \
  --batch 64 --images 1280 --log-every 640 --out "$work/distill" 2>&1)" || fail "2-rank distill failed: $out"
[ -s "$work/distill/generator.safetensors" ] || fail "2-rank distill wrote no generator: $out"
"$onestep" sample --model "$work/distill/generator.safetensors" --n 16 --out "$work/samples" \
  >/dev/null 2>&1 || fail "the 2-rank generator does not sample"

# --- Commands that are not data parallel refuse to run as several ranks.
out="$(mpirun_2 "$onestep" sample --model "$work/distill/generator.safetensors" --n 4 \
  --out "$work/sampled" 2>&1)"
[ $? -ne 0 ] || fail "onestep sample ran on 2 ranks"
grep -q "onestep sample runs as one process" <<<"$out" || fail "no reason for sample: $out"
[ ! -e "$work/sampled" ] || fail "the refused sample wrote $work/sampled"

# --- A global batch two ranks cannot share.
out="$(mpirun_2 "$onestep" "${toy[@]}" --batch 127 --images 1270 --out "$work/odd" 2>&1)"
[ $? -ne 0 ] || fail "batch 127 on 2 ranks was accepted"
grep -q "divide evenly among the 2 ranks" <<<"$out" || fail "no reason for batch 127: $out"

# --- SIGINT to the launcher: every rank stops at the same step, one checkpoint, and a resume.
# Open MPI's mpirun answers SIGINT with SIGCONT to the ranks, SIGTERM odls_base_sigkill_timeout
# seconds later (1 by default) and SIGKILL as long after that, and meanwhile forwards none of their
# output: a rank that fills its output pipe blocks until killed, so this run logs rarely; and the
# longer timeout docs/DISTRIBUTED.md recommends gives a checkpoint's fsyncs time on a busy disk.
endless=("${toy[@]}" --batch 64 --images 100000000)
long=("${endless[@]}" --log-every 640)
rare=("${endless[@]}" --log-every 64000)
OMPI_MCA_odls_base_sigkill_timeout=5 \
  bash "$mpirun_sh" "$onestep" "${rare[@]}" --out "$work/stopped" >"$work/stopped.log" 2>&1 &
job=$!
wait_for "$work/stopped/metrics.jsonl" || fail "the stopped run never logged"
kill -INT "$job"
wait "$job"
code=$?
[ $code -ne 0 ] || fail "a stopped run exited 0"
grep -q "stopped by signal" "$work/stopped.log" || fail "no stop message: $(cat "$work/stopped.log")"
out="$(mpirun_2 "$onestep" teacher --resume --out "$work/stopped" --images 1280 2>&1)" ||
  fail "the stopped run did not resume: $out"

# --- SIGTERM to the ranks themselves (the other stop docs/DISTRIBUTED.md names): the same.
bash "$mpirun_sh" "$onestep" "${long[@]}" --out "$work/termed" >"$work/termed.log" 2>&1 &
job=$!
wait_for "$work/termed/metrics.jsonl" || fail "the run to stop with SIGTERM never logged"
pids="$(rank_pid 0 "$work/termed") $(rank_pid 1 "$work/termed")"
[ "$(wc -w <<<"$pids")" -eq 2 ] || fail "the ranks of the run to stop were not found: $pids"
kill -TERM $pids
wait "$job"
[ $? -ne 0 ] || fail "a run whose ranks were stopped exited 0"
grep -q "stopped by signal 15" "$work/termed.log" ||
  fail "no stop message: $(cat "$work/termed.log")"
[ -s "$work/termed/state.safetensors" ] || fail "the stopped ranks wrote no checkpoint"

# --- kill -9 of rank 1 mid-run: the job ends, non-zero, within a bounded time.
bash "$mpirun_sh" "$onestep" "${long[@]}" --out "$work/killed" >"$work/killed.log" 2>&1 &
job=$!
wait_for "$work/killed/metrics.jsonl" || fail "the run to kill never logged"
pid="$(rank_pid 1 "$work/killed")"
[ -n "$pid" ] || fail "rank 1 not found"
start=$SECONDS
kill -9 "$pid"
wait "$job"
code=$?
elapsed=$((SECONDS - start))
[ $code -ne 0 ] || fail "the job with a killed rank exited 0"
[ $elapsed -le 60 ] || fail "the job with a killed rank took $elapsed s to end"
echo "killed rank: the job ended with exit code $code after $elapsed s"

# --- A rank that hangs (SIGSTOP): the others give up after ONESTEP_DIST_TIMEOUT seconds.
ONESTEP_DIST_TIMEOUT=5 bash "$mpirun_sh" "$onestep" "${long[@]}" --out "$work/hung" >"$work/hung.log" 2>&1 &
job=$!
wait_for "$work/hung/metrics.jsonl" || fail "the run to stop never logged"
pid="$(rank_pid 1 "$work/hung")"
[ -n "$pid" ] || fail "rank 1 not found"
start=$SECONDS
kill -STOP "$pid"
wait "$job"
code=$?
elapsed=$((SECONDS - start))
kill -9 "$pid" 2>/dev/null
[ $code -ne 0 ] || fail "the job with a hung rank exited 0"
[ $elapsed -le 60 ] || fail "the job with a hung rank took $elapsed s to end"
grep -q "rank 0 of 2 waited more than 5 s for the other ranks" "$work/hung.log" ||
  fail "no timeout message: $(cat "$work/hung.log")"
echo "hung rank: the job ended with exit code $code after $elapsed s"

finish "ok: 2-rank teacher and distill, batch refusal, stop and resume, killed and hung ranks"
