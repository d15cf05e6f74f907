#!/usr/bin/env bash
# Builds onestep with AddressSanitizer and UndefinedBehaviorSanitizer (gcc, -O1 -g1, assertions on)
# into ${BUILD_DIR:-build-asan} and runs its tests but five long statistical ones. The build is
# also the CUDA emulation build (-DONESTEP_CUDA_EMULATION=ON, docs/ENGINE.md): every `gpu` test
# runs, its kernels on the host under the sanitizers, and a skipped one fails this script.
# Any sanitizer report fails its test: UBSan does not recover, ASan stops at the first error,
# LeakSanitizer checks at exit.
# Extra arguments go to ctest (e.g. -R Safetensors).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-asan}"
"$root/scripts/install-deps.sh"

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
# RelWithDebInfo without its -DNDEBUG, so the assertions (Eigen's index checks among them) stay
# on. -O1 -g1 (line tables only: reports still name function, file and line) compiles in about
# 40 % of the time of -O2 -g, which CI's 2 cores need. Dynamic linking: ASan cannot be static.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="$sanitize" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DONESTEP_BUILD_BENCH=OFF \
  -DONESTEP_STATIC=OFF -DONESTEP_CUDA_EMULATION=ON >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}"

# detect_stack_use_after_return: catches returned references to locals (cheap enough here).
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
# One thread per test, two tests at a time (below): the sanitizers' checks cost the most in the
# kernels, and two threads per test only add waiting (under OpenMP one training test took 719 s).
# The threaded paths are still checked: the ThreadPool, CpuKernels and Random tests set their
# thread counts themselves.
export ONESTEP_THREADS="${ONESTEP_THREADS:-1}"
# Left out here (they still run in every normal build): statistical tests that need thousands of
# training steps or network passes over 20,000 images to reach their thresholds, 20-100x slower
# under the sanitizers (1.5-13 s each normally; 2.5-5+ minutes each here). The code they run is
# covered by the quicker tests (Distill.*, Teacher.*, Fid.*, the cli test), except the Fashion-MNIST
# feature network's forward pass over a full batch, which only the FidWithFeatures and
# SampleScorer.Images* tests use.
# SANITIZE_EXCLUDE="" runs everything.
# cli_bench times 36 training steps of the fmnist-cpu networks (7 s normally); the same code
# runs under the sanitizers in the Teacher.*, Distill.* and cli tests.
# BuiltinFeatureNet.CachedTestFeatures* and standalone pass the 10,000 test images through the
# feature network two or three times (9-19 s normally; 474 s for the first under ASan at
# commit 8e150f5).
# EdmGolden's Heun sampler on the 64-pixel ADM (35 network passes in float32 and float64; 13 s
# normally): the same code runs here on the 32-pixel ADM and in the 64-pixel denoiser test.
exclude="${SANITIZE_EXCLUDE-^(Configs/EdmGolden\.HeunSamplerMatchesEdmsGenerate/dhariwalunet_adm64.*|FidWithFeatures\.(RandomHalves|TrainingSet|GrowsMonotonically).*|SampleScorer\.Images.*|DensityRatio\..*|DistillQuality\..*|BuiltinFeatureNet\.CachedTestFeatures.*|toy_pipeline|cli_bench|standalone)\$}"
cd "$build"
start=$(date +%s)
log="$build/sanitize-ctest.log"
ctest --output-on-failure --no-tests=error -j "${JOBS:-$(nproc)}" ${exclude:+-E "$exclude"} "$@" |
  tee "$log"
# On the emulator no gpu test may skip. (Two CPU tests skip themselves in any CUDA-capable build:
# the no-CUDA error and the no-device seam; they are not gpu tests.)
gpu_names="$(ctest -N -L gpu ${exclude:+-E "$exclude"} "$@" | sed -n 's/^ *Test *#[0-9]*: //p')"
skipped_gpu="$(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (Skipped)$/\1/p' "$log" |
  grep -Fx -f <(printf '%s\n' "$gpu_names") || true)"
if [[ -n "$skipped_gpu" ]]; then
  echo "sanitize: gpu tests were skipped on the CUDA emulator:" >&2
  echo "$skipped_gpu" >&2
  exit 1
fi
echo "sanitize: every test run was clean under ASan + UBSan in $(( $(date +%s) - start )) s," \
  "$(grep -c . <<<"$gpu_names") of them gpu tests on the CUDA emulator"
