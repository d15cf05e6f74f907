#!/usr/bin/env bash
# A onestep checkpoint that went through the reference safetensors library (Python's
# `safetensors`: loaded and saved back unchanged, same tensors, same metadata, its own tensor
# order) still loads: the content checksum depends on the content, not on the layout. A byte of
# weights changed in that copy is still refused. Skipped (exit 77, counted by ctest) without
# python3, numpy or safetensors.
# Usage: reference_safetensors_test.sh /path/to/onestep
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"

python3 -c 'import numpy, safetensors' 2>/dev/null || {
  echo "skipped: python3 with numpy and safetensors is not installed (pip install safetensors numpy)"
  exit 77
}

"$onestep" teacher --preset toy --hidden 16 --blocks 1 --images 1024 --preview 0 \
  --out "$work/teacher" >/dev/null 2>&1 || { fail "could not train the small teacher"; finish; }
original="$work/teacher/teacher.safetensors"
copy="$work/through-reference.safetensors"

python3 - "$original" "$copy" <<'PY' || { fail "the reference library could not copy the file"; finish; }
import sys
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

source, target = sys.argv[1], sys.argv[2]
with safe_open(source, framework="np") as f:
    metadata = f.metadata()
    order = list(f.keys())
assert "onestep.crc32" in metadata, "the checkpoint has no checksum to test"
save_file(load_file(source), target, metadata=metadata)
with safe_open(target, framework="np") as f:
    print("tensor order changed:", list(f.keys()) != order)
PY
cmp -s "$original" "$copy" && fail "the reference library wrote the same bytes: nothing was tested"

out="$("$onestep" sample --model "$copy" --n 64 --out "$work/samples" 2>&1)" ||
  fail "onestep refused the reference library's copy: $out"

# The same copy with one byte of weights changed: refused as corrupt.
python3 - "$copy" "$work/corrupt.safetensors" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
header = struct.unpack("<Q", data[:8])[0]
data[8 + header + 3] ^= 0x10
open(sys.argv[2], "wb").write(data)
PY
out="$("$onestep" sample --model "$work/corrupt.safetensors" --n 4 --out "$work/s2" 2>&1)" &&
  fail "a corrupted copy was accepted"
grep -q "checksum mismatch" <<<"$out" || fail "the corrupted copy was not reported as such: $out"
finish "reference_safetensors: onestep loads its checkpoint after a round trip through the reference library"
