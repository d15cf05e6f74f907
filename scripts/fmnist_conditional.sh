#!/usr/bin/env bash
# Class-conditional Fashion-MNIST (docs/RESULTS.md, "Fashion-MNIST, class-conditional"): a
# conditional fmnist-cpu teacher (--cond), its one-step generator (distill --preset fmnist-cpu,
# Uni-Instruct's recipe), and for each the same number of samples of every class (--labels) scored
# by `onestep eval`: FID against the 10,000 test images and the accuracy of the committed
# Fashion-MNIST classifier on the requested classes.
#   scripts/fmnist_conditional.sh [--out DIR] [--teacher-images N] [--images N] [--samples N]
#                                 [--threads N] [--update-docs]
# Finished steps are kept (delete a folder under --out to redo it); a distillation stopped early is
# continued. --update-docs writes the table into docs/RESULTS.md.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/script_lib.sh"
out="$root/runs/fmnist-conditional" teacher_images=110000 images=44800 samples=1000 threads=2
update_docs=0
parse_flags fmnist_conditional.sh "out teacher_images images samples threads" "update_docs" "$@"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$root" diff --quiet HEAD -- 2>/dev/null || commit="$commit+uncommitted"
mkdir -p "$out"
invocation="scripts/fmnist_conditional.sh --teacher-images $teacher_images --images $images --samples $samples --threads $threads"
export ONESTEP_THREADS="$threads"

# timed NAME command...: runs it once, its wall time into $out/NAME.seconds and the commit that
# ran it into $out/NAME.commit.
timed() {
  local name="$1" start
  shift
  start=$(date +%s.%N)
  "$@"
  awk "BEGIN { printf \"%.1f\\n\", $(date +%s.%N) - $start }" > "$out/$name.seconds"
  echo "$commit" > "$out/$name.commit"
}

teacher="$out/teacher/teacher.safetensors"
if [ ! -s "$teacher" ]; then
  echo "fmnist_conditional.sh: training the conditional teacher (about 20 min on 2 cores)"
  rm -rf "$out/teacher"
  timed teacher "$onestep" teacher --preset fmnist-cpu --cond --images "$teacher_images" --seed 0 \
    --preview 0 --out "$out/teacher" > "$out/teacher.log" 2>&1
fi
generator="$out/uni-instruct/generator.safetensors"
# A run stopped early (Ctrl-C writes its generator too) is continued with --resume to --images.
seen=0
[ -s "$out/uni-instruct/metrics.jsonl" ] &&
  seen="$(tail -n 1 "$out/uni-instruct/metrics.jsonl" | "$python" -c 'import json, sys; print(json.load(sys.stdin).get("images", 0))')"
if [ -s "$out/uni-instruct/state.safetensors" ] && [ "$seen" -lt "$images" ]; then
  echo "fmnist_conditional.sh: continuing the distillation from $seen images"
  before="$(cat "$out/uni-instruct.seconds" 2>/dev/null || echo 0)"
  timed uni-instruct "$onestep" distill --resume --out "$out/uni-instruct" --images "$images" \
    >> "$out/uni-instruct.log" 2>&1
  awk "BEGIN { printf \"%.1f\\n\", $before + $(cat "$out/uni-instruct.seconds") }" > "$out/uni-instruct.seconds"
elif [ ! -s "$generator" ]; then
  echo "fmnist_conditional.sh: distilling it (about 30 min on 2 cores at 44,800 images)"
  rm -rf "$out/uni-instruct"
  timed uni-instruct "$onestep" distill --preset fmnist-cpu --teacher "$teacher" \
    --images "$images" --preview 0 --out "$out/uni-instruct" > "$out/uni-instruct.log" 2>&1
fi

# The same number of samples of each class, in class order.
"$python" -c 'import numpy, sys; n = int(sys.argv[2]); numpy.save(sys.argv[1], numpy.arange(n, dtype=numpy.int64) % 10)' \
  "$out/labels.npy" "$samples"
# sample_and_score NAME MODEL FLAGS...: samples of every class, then onestep eval with --labels.
sample_and_score() {
  local name="$1" model="$2"
  shift 2
  if [ ! -s "$out/$name/eval.json" ] || [ "$model" -nt "$out/$name/eval.json" ]; then
    timed "$name-sampling" "$onestep" sample --model "$model" --labels "$out/labels.npy" --seed 1 \
      "$@" --out "$out/$name" > /dev/null
    "$onestep" eval --samples "$out/$name/samples.npy" --labels "$out/labels.npy" \
      --out "$out/$name/eval.json" | tail -2
  fi
}
sample_and_score teacher-samples "$teacher" --steps 18
sample_and_score uni-instruct-samples "$generator"

table="$("$python" - "$out" "$invocation" "$commit" <<'PY'
import json, sys
out, invocation, commit = sys.argv[1:4]
def seconds(name):
    try:
        return float(open(f'{out}/{name}.seconds').read())
    except OSError:
        return float('nan')
def made_at(name):
    try:
        return open(f'{out}/{name}.commit').read().strip()
    except OSError:
        return commit
rows = [('teacher (Heun, 18 steps)', 35, 'teacher-samples', 'teacher'),
        ('uni-instruct (JS), 1 step', 1, 'uni-instruct-samples', 'uni-instruct')]
print('<!-- fmnist-conditional:begin -->')
print('## Fashion-MNIST, class-conditional\n')
print(f'Made by `{invocation}` on the 2-core development machine, CPU backend: the teacher at '
      f'commit {made_at("teacher")}, the generator at {made_at("uni-instruct")}, the samples and '
      f'scores at {made_at("uni-instruct-samples-sampling")}.')
print('The teacher: `onestep teacher --preset fmnist-cpu --cond`; the generator: `onestep distill '
      '--preset fmnist-cpu` (Uni-Instruct\'s recipe) from it. Each row samples the same number '
      'of every class (`onestep sample --labels`, seed 1) and is scored by `onestep eval --labels`: '
      'FID and KID against the 10,000 test images, and the accuracy of the committed '
      'Fashion-MNIST classifier (the FID feature network) on the requested classes.\n')
print('| run | NFE | FID | KID ×10³ | class accuracy | training | sampling |')
print('|---|---|---|---|---|---|---|')
for label, nfe, samples, train in rows:
    e = json.load(open(f'{out}/{samples}/eval.json'))
    print(f'| {label} | {nfe} | {e["fid"]:.3f} | {1e3 * e["kid"]:.2f} ± {1e3 * e["kid_se"]:.2f} | '
          f'{e["class_accuracy"]:.3f} | {seconds(train) / 60:.1f} min | {seconds(samples + "-sampling"):.1f} s |')
t = json.load(open(f'{out}/teacher-samples/eval.json'))
g = json.load(open(f'{out}/uni-instruct-samples/eval.json'))
print(f'\n{t["n"]} samples per row ({t["n"] // 10} of each class). The classifier itself is right on '
      '92.3 % of the real test images (its recorded test accuracy), the ceiling of the last column. '
      f'The one-step generator scores FID {g["fid"]:.3f} against the teacher\'s {t["fid"]:.3f}, and its '
      f'samples are recognised as the class asked for {100 * g["class_accuracy"]:.1f} % of the time '
      f'against the teacher\'s {100 * t["class_accuracy"]:.1f} %, with one network evaluation instead '
      'of 35.')
print('<!-- fmnist-conditional:end -->')
PY
)"
echo "$table" | tee "$out/table.md"
if [ "$update_docs" = 1 ]; then
  "$python" - "$root/docs/RESULTS.md" "$out/table.md" <<'PY'
import re, sys
doc, table = open(sys.argv[1]).read(), open(sys.argv[2]).read().strip()
pattern = re.compile(r'<!-- fmnist-conditional:begin -->.*<!-- fmnist-conditional:end -->', re.S)
doc = pattern.sub(lambda m: table, doc) if pattern.search(doc) else doc.rstrip('\n') + '\n\n' + table + '\n'
open(sys.argv[1], 'w').write(doc)
PY
  echo "wrote the table into docs/RESULTS.md"
fi
