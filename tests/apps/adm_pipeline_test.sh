#!/usr/bin/env bash
# EDM's ADM (DhariwalUNet) through every command on the CPU, tiny: a class-conditional teacher
# trained on Fashion-MNIST (`--arch dhariwalunet`), `distill --preset imagenet64` (the paper's
# ImageNet-64 settings) for a few steps, and the one-step generator sampled per class into a PNG
# folder. A smoke test: the settings are the preset's except the length and the warm-ups.
# Usage: adm_pipeline_test.sh /path/to/onestep
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"

run() { out="$("$@" 2>&1)" || fail "exit $?: $* -> $out"; }

run "$onestep" teacher --preset fmnist-cpu --arch dhariwalunet --cond --channels 8 \
  --channel-mult 1,1 --blocks 1 --attn 16 --images 64 --batch 16 --preview 0 --out "$work/teacher"
grep -q "dhariwalunet on fashion-mnist" <<<"$out" || fail "teacher: $out"
teacher="$work/teacher/teacher.safetensors"
head -c 4096 "$teacher" | grep -aqF 'arch\":\"dhariwalunet' || fail "the teacher's config is not ADM's"

run "$onestep" distill --preset imagenet64 --teacher "$teacher" --batch 4 --images 32 \
  --generator-warmup 0 --sim-only 0 --preview 0 --out "$work/distill"
grep -q "uni-instruct" <<<"$out" && grep -q "32 images" <<<"$out" || fail "distill: $out"
grep -q '"lr_generator": 4e-06' "$work/distill/config.json" && grep -q '"batch": 4' "$work/distill/config.json" ||
  fail "distill --preset imagenet64 did not keep the preset's learning rate: $(cat "$work/distill/config.json")"
generator="$work/distill/generator.safetensors"
head -c 4096 "$generator" | grep -aqF 'one_step_sigma\":2.5' || fail "the generator is not a one-step generator"

run "$onestep" sample --model "$generator" --class 7 --n 6 --png-dir "$work/pngs" --out "$work/samples"
grep -q "dhariwalunet one-step generator), 6 samples, 1 network evaluation" <<<"$out" || fail "sample: $out"
[ -s "$work/pngs/000005.png" ] && grep -q '\["000005.png", 7\]' "$work/pngs/dataset.json" ||
  fail "sample --class 7 --png-dir wrote $(ls "$work/pngs")"
finish "ADM pipeline: all checks passed"
