#!/usr/bin/env bash
# `onestep sample` on a conditional image model (EDM's NCSN++ golden network, 3 channels, 8 px,
# 3 classes): --labels gives each sample its class (and reproduces --class), --png-dir and
# --png-zip write one PNG per sample named as EDM's generate.py names them, with a dataset.json
# of the classes; the flag conflicts are usage errors.
# Usage: sample_images_test.sh /path/to/onestep /path/to/tests/data
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"
data="$2"
cond="$data/edm_songunet_ncsnpp.safetensors"     # conditional, label_dim 3, [3, 8, 8]
uncond="$data/edm_songunet_fourier.safetensors"  # unconditional, [1, 8, 8]

expect() {
  local code="$1"; shift
  out="$("$@" 2>&1)"; local got=$?
  [ "$got" -eq "$code" ] || fail "expected exit $code, got $got: $* -> $out"
}
# write_i64_npy FILE V...: an int64 .npy vector of the values (python3's standard library only).
write_i64_npy() {
  python3 - "$@" <<'PY'
import struct, sys
path, values = sys.argv[1], [int(v) for v in sys.argv[2:]]
header = "{'descr': '<i8', 'fortran_order': False, 'shape': (%d,), }" % len(values)
header += " " * (63 - (10 + len(header)) % 64) + "\n"
with open(path, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack("<%dq" % len(values), *values))
PY
}

write_i64_npy "$work/labels.npy" 2 0 1 2 1
write_i64_npy "$work/ones.npy" 1 1 1 1 1
write_i64_npy "$work/out-of-range.npy" 0 3
write_i64_npy "$work/negative.npy" -1 0

# --labels sets the count and the classes; the PNGs and dataset.json follow EDM's layout.
expect 0 "$onestep" sample --model "$cond" --steps 2 --labels "$work/labels.npy" \
  --png-dir "$work/pngs" --png-zip "$work/pngs.zip" --out "$work/s"
grep -q "5 samples" <<<"$out" || fail "--labels did not set the sample count: $out"
for i in 0 1 2 3 4; do
  [ -s "$work/pngs/00000$i.png" ] || fail "--png-dir wrote no 00000$i.png"
done
[ "$(ls "$work/pngs" | wc -l)" -eq 6 ] || fail "--png-dir holds $(ls "$work/pngs")"
grep -q '"labels": \[\["000000.png", 2\], \["000001.png", 0\]' "$work/pngs/dataset.json" ||
  fail "dataset.json: $(cat "$work/pngs/dataset.json")"
cmp -s "$work/labels.npy" "$work/s/labels.npy" || fail "labels.npy differs from --labels"
python3 - "$work/pngs.zip" "$work/pngs" <<'PY' || fail "the zip does not hold the folder's files"
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None
    names = sorted(z.namelist())
    assert names == sorted(os.listdir(sys.argv[2])), names
    for n in names:
        assert z.read(n) == open(os.path.join(sys.argv[2], n), "rb").read(), n
PY
head -c 8 "$work/pngs/000000.png" | od -An -c | grep -q "P   N   G" || fail "000000.png is not a PNG"

# The same latents with --labels of all ones are --class 1.
expect 0 "$onestep" sample --model "$cond" --steps 2 --n 5 --class 1 --seed 3 --out "$work/class1"
expect 0 "$onestep" sample --model "$cond" --steps 2 --labels "$work/ones.npy" --seed 3 --out "$work/labels1"
cmp -s "$work/class1/samples.npy" "$work/labels1/samples.npy" || fail "--labels of ones differs from --class 1"
# With --noise, one label per latent (the latents are f32 [5, 3, 8, 8]; the samples' u8 would not do).
python3 - "$work/noise.npy" <<'PY'
import struct, sys
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 3, 8, 8), }"
header += " " * (63 - (10 + len(header)) % 64) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack("<960f", *[((i * 37) % 11 - 5) / 5 for i in range(960)]))
PY
expect 0 "$onestep" sample --model "$cond" --steps 2 --noise "$work/noise.npy" --labels "$work/labels.npy" --out "$work/n1"
expect 0 "$onestep" sample --model "$cond" --steps 2 --noise "$work/noise.npy" --labels "$work/labels.npy" --out "$work/n2"
cmp -s "$work/n1/samples.npy" "$work/n2/samples.npy" || fail "--noise with --labels is not reproducible"

# Usage errors, before any work.
expect 2 "$onestep" sample --model "$cond" --labels "$work/labels.npy" --class 1
expect 2 "$onestep" sample --model "$cond" --labels "$work/labels.npy" --n 5
expect 2 "$onestep" sample --model "$cond" --labels "$work/out-of-range.npy" --out "$work/x"
grep -q "must be in \[0, 3)" <<<"$out" || fail "out-of-range labels: $out"
expect 2 "$onestep" sample --model "$cond" --labels "$work/negative.npy" --out "$work/x"
expect 2 "$onestep" sample --model "$uncond" --labels "$work/labels.npy" --out "$work/x"
grep -q "unconditional" <<<"$out" || fail "labels for an unconditional model: $out"
write_i64_npy "$work/three.npy" 0 1 2
expect 2 "$onestep" sample --model "$cond" --noise "$work/noise.npy" --labels "$work/three.npy" --out "$work/x"
expect 2 "$onestep" sample --model "$cond" --labels "$work/noise.npy" --out "$work/x"   # float, not int64
expect 2 "$onestep" sample --model "$cond" --png-zip "$work/nowhere/x.zip" --out "$work/x"
touch "$work/file"
expect 2 "$onestep" sample --model "$cond" --png-dir "$work/file" --out "$work/x"
finish "sample --labels, --png-dir and --png-zip: all checks passed"
