#!/usr/bin/env bash
# onestep and EDM's own code (NVlabs/edm) on each other's files: EDM networks of every
# architecture, pickled by EDM's persistence, convert with tools/edm_to_safetensors.py and sample
# with onestep, and come back unchanged through tools/onestep_to_edm.py; baseline
# preconditionings are refused with a reason; a onestep one-step generator (and its teacher)
# written as an EDM pickle give, in EDM's own edm_sampler (generate.py's), the images onestep
# gives from the same latents and classes; the PNG folder and zip that
# `onestep sample --png-dir/--png-zip` writes load in EDM's ImageFolderDataset (what its fid.py
# reads) with the same pixels and the classes of dataset.json.
# Skipped (exit 77, counted by ctest) without python3 + PyTorch + numpy + Pillow, or without an
# EDM checkout in $ONESTEP_EDM_DIR (git clone https://github.com/NVlabs/edm).
# Usage: edm_interop_test.sh /path/to/onestep /path/to/repository
source "$(dirname "${BASH_SOURCE[0]}")/../apps/test_lib.sh"
repo="$2"
edm="${ONESTEP_EDM_DIR:-}"
python="${ONESTEP_TORCH_PYTHON:-python3}"

"$python" -c 'import torch, numpy, PIL' 2>/dev/null || {
  echo "skipped: $python has no PyTorch, numpy and Pillow (Debian: apt-get install python3-torch python3-pil)"
  exit 77
}
[ -n "$edm" ] && [ -d "$edm/training" ] && [ -d "$edm/torch_utils" ] || {
  echo "skipped: set ONESTEP_EDM_DIR to a checkout of https://github.com/NVlabs/edm"
  exit 77
}

# EDM networks, pickled as EDM's training loop does (a dict with 'ema').
"$python" - "$edm" "$work" <<'PY' || { fail "could not build and pickle EDM networks"; finish; }
import pickle, sys
sys.path.insert(0, sys.argv[1])
import torch
from training import networks
out = sys.argv[2]
torch.manual_seed(0)
nets = {
    'ddpmpp': networks.EDMPrecond(img_resolution=8, img_channels=3, label_dim=4, model_type='SongUNet',
                                  model_channels=16, channel_mult=[1, 2], num_blocks=1,
                                  attn_resolutions=[4], augment_dim=9),
    'ncsnpp': networks.EDMPrecond(img_resolution=8, img_channels=3, label_dim=0, model_type='SongUNet',
                                  model_channels=16, channel_mult=[2, 2], num_blocks=1,
                                  attn_resolutions=[4], embedding_type='fourier',
                                  channel_mult_noise=2, encoder_type='residual',
                                  resample_filter=[1, 3, 3, 1]),
    'adm': networks.EDMPrecond(img_resolution=8, img_channels=3, label_dim=4, model_type='DhariwalUNet',
                               model_channels=64, channel_mult=[1, 2], num_blocks=1,
                               attn_resolutions=[4]),
    'vp': networks.VPPrecond(img_resolution=8, img_channels=3, model_type='SongUNet',
                             model_channels=16, channel_mult=[1, 2], num_blocks=1),
}
for name, net in nets.items():
    with torch.no_grad():  # EDM's zero-initialised output layers would make outputs trivial
        for p in net.parameters():
            p.add_(torch.randn(p.shape) * 0.05)
    with open(f'{out}/{name}.pkl', 'wb') as f:
        pickle.dump({'ema': net.eval().requires_grad_(False)}, f)
PY

for name in ddpmpp ncsnpp adm; do
  out="$("$python" "$repo/tools/edm_to_safetensors.py" --edm "$edm" --pkl "$work/$name.pkl" \
    --out "$work/$name.safetensors" 2>&1)" || { fail "convert $name: $out"; continue; }
  out="$("$onestep" sample --model "$work/$name.safetensors" --steps 3 --n 4 --out "$work/$name-samples" 2>&1)" ||
    fail "sample $name: $out"
done
out="$("$python" "$repo/tools/edm_to_safetensors.py" --edm "$edm" --pkl "$work/vp.pkl" --out "$work/vp.safetensors" 2>&1)"
[ $? -eq 1 ] && grep -q "VP preconditioning" <<<"$out" || fail "a VPPrecond network was not refused clearly: $out"

# EDM -> onestep -> EDM: the same weights and buffers.
for name in ddpmpp ncsnpp adm; do
  out="$("$python" "$repo/tools/onestep_to_edm.py" --edm "$edm" --model "$work/$name.safetensors" \
    --out "$work/$name-back.pkl" 2>&1)" || { fail "onestep_to_edm $name: $out"; continue; }
  "$python" - "$edm" "$work/$name.pkl" "$work/$name-back.pkl" <<'PY' || fail "$name did not come back unchanged"
import pickle, sys
sys.path.insert(0, sys.argv[1])
a = pickle.load(open(sys.argv[2], 'rb'))['ema'].state_dict()
b = pickle.load(open(sys.argv[3], 'rb'))['ema'].state_dict()
assert list(a) == list(b), (list(a)[:3], list(b)[:3])
for k in a:
    assert (a[k] == b[k]).all(), k
PY
done

# A onestep one-step generator (tiny conditional ADM on Fashion-MNIST) and its teacher in EDM's
# sampler, against onestep sample from the same latents and classes.
"$onestep" teacher --preset fmnist-cpu --arch dhariwalunet --cond --channels 8 --channel-mult 1,1 \
  --blocks 1 --attn 16 --images 64 --batch 16 --preview 0 --out "$work/teacher" >/dev/null 2>&1 ||
  fail "could not train the tiny ADM teacher"
"$onestep" distill --teacher "$work/teacher/teacher.safetensors" --batch 4 --images 16 --lr 1e-3 \
  --generator-warmup 0 --sim-only 0 --preview 0 --out "$work/distill" >/dev/null 2>&1 ||
  fail "could not distill the tiny ADM teacher"
"$python" -c 'import numpy, sys
numpy.save(sys.argv[1], numpy.random.default_rng(0).standard_normal((4, 1, 32, 32)).astype(numpy.float32))
numpy.save(sys.argv[2], numpy.array([3, 0, 9, 3], dtype=numpy.int64))' "$work/z.npy" "$work/classes.npy"
for model in distill/generator teacher/teacher; do
  out="$("$python" "$repo/tools/onestep_to_edm.py" --edm "$edm" --model "$work/$model.safetensors" \
    --out "$work/edm.pkl" 2>&1)" || { fail "onestep_to_edm $model: $out"; continue; }
  [ "$model" = teacher/teacher ] || grep -q -- "--steps 2 --sigma_min 2.5 --sigma_max 2.5" <<<"$out" ||
    fail "onestep_to_edm did not print the one-step command: $out"
  out="$("$onestep" sample --model "$work/$model.safetensors" --noise "$work/z.npy" \
    --labels "$work/classes.npy" --out "$work/onestep-images" 2>&1)" || fail "sample $model: $out"
  "$python" - "$edm" "$work/edm.pkl" "$work" <<'PY' || fail "$model: EDM's sampler disagrees with onestep sample"
import pickle, sys
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
import generate  # EDM's generate.py
data = pickle.load(open(sys.argv[2], 'rb'))
net, sigma = data['ema'], data['onestep_one_step_sigma']
z = torch.from_numpy(np.load(f'{sys.argv[3]}/z.npy'))
labels = torch.eye(net.label_dim)[torch.from_numpy(np.load(f'{sys.argv[3]}/classes.npy'))]
with torch.no_grad():
    if sigma > 0:  # the command onestep_to_edm prints: 2 steps with both noise levels at sigma
        images = generate.edm_sampler(net, z, labels, num_steps=2, sigma_min=sigma, sigma_max=sigma)
    else:
        images = generate.edm_sampler(net, z, labels)  # EDM's defaults: Heun, 18 steps
edm = (images * 127.5 + 128).clip(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
ours = np.load(f'{sys.argv[3]}/onestep-images/samples.npy')
diff = np.abs(edm.astype(int) - ours.astype(int)).max()
print(f'sigma {sigma}: max pixel difference {diff}')
assert diff <= 1, diff
PY
done

# The PNG folder and zip in EDM's ImageFolderDataset, against samples.npy and labels.npy.
write_labels() {
  "$python" -c 'import numpy, sys; numpy.save(sys.argv[1], numpy.array([2, 0, 3, 1, 1], dtype=numpy.int64))' "$1"
}
write_labels "$work/labels.npy"
out="$("$onestep" sample --model "$work/adm.safetensors" --steps 3 --labels "$work/labels.npy" \
  --png-dir "$work/pngs" --png-zip "$work/pngs.zip" --out "$work/png-samples" 2>&1)" || fail "sample --png-dir: $out"
"$python" - "$edm" "$work" <<'PY' || fail "EDM's ImageFolderDataset did not read onestep's PNGs as written"
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from training.dataset import ImageFolderDataset
work = sys.argv[2]
samples = np.load(f'{work}/png-samples/samples.npy')  # uint8 [N, H, W, C]
labels = np.load(f'{work}/png-samples/labels.npy')
for path in (f'{work}/pngs', f'{work}/pngs.zip'):
    ds = ImageFolderDataset(path=path, use_labels=True)
    assert len(ds) == len(samples), (path, len(ds))
    assert ds.image_shape == [3, 8, 8], ds.image_shape
    for i in range(len(ds)):
        image, onehot = ds[i]
        assert (image.transpose(1, 2, 0) == samples[i]).all(), (path, i)
        assert onehot.argmax() == labels[i], (path, i, onehot)
print('ImageFolderDataset read', len(samples), 'images from the folder and the zip')
PY
finish "EDM interop: all checks passed"
