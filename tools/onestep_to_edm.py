#!/usr/bin/env python3
"""Write a onestep model (a distilled one-step generator, or a teacher) as an EDM network pickle.

Usage:
    python3 tools/onestep_to_edm.py --edm ~/edm --model runs/distill/generator.safetensors \\
        --out generator.pkl

The pickle is what EDM's training loop writes: a dict whose 'ema' entry is an EDMPrecond around
EDM's SongUNet or DhariwalUNet, built with EDM's own classes (so EDM's persistence stores their
source, and EDM's generate.py, fid.py and any EDM-based code load it), holding the model's
weights. A one-step generator x = D(sigma_init z; sigma_init) then samples with EDM's own
generate.py as

    python generate.py --network generator.pkl --outdir out --seeds 0-49999 \\
        --steps 2 --sigma_min S --sigma_max S        (S = the generator's sigma_init, e.g. 2.5)

With both noise levels at S, EDM's Heun sampler evaluates the network at S only and its last
Euler step to sigma 0 returns D(S z; S) exactly (the other steps have zero length): one step
from sigma_init, as onestep samples it (three network evaluations instead of one; the images
are the same). The script prints that command. The pickle also records the sigma under
'onestep_one_step_sigma'. Needs PyTorch, numpy and an EDM checkout (--edm). See
docs/EDM_CHECKPOINTS.md.
"""

import argparse
import json
import os
import pickle
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import edm_to_safetensors as conv  # noqa: E402  (safetensors reader, EDM path, errors)

# onestep arch -> EDM model_type
MODEL_TYPES = {'songunet': 'SongUNet', 'dhariwalunet': 'DhariwalUNet'}


def build_edm_network(networks, config):
    """EDM's EDMPrecond for a onestep model config (dict)."""
    net_cfg = dict(config['network'])
    arch = net_cfg.pop('arch', None)
    if arch not in MODEL_TYPES:
        raise conv.ConversionError(f"network arch '{arch}' has no EDM counterpart (EDM has "
                                   f"{' and '.join(MODEL_TYPES.values())})")
    channels = net_cfg.pop('in_channels')
    if net_cfg.pop('out_channels') != channels:
        raise conv.ConversionError('in_channels and out_channels differ; EDMPrecond needs them equal')
    resolution = net_cfg.pop('img_resolution')
    label_dim = net_cfg.pop('label_dim')
    return networks.EDMPrecond(img_resolution=resolution, img_channels=channels,
                               label_dim=label_dim, use_fp16=False,
                               sigma_data=float(config.get('sigma_data', 0.5)),
                               model_type=MODEL_TYPES[arch], **net_cfg)


def convert(edm_dir, model_path, out_path):
    conv.add_edm_to_path(edm_dir)
    import torch
    from training import networks
    tensors, metadata = conv.read_safetensors(model_path)
    if 'config' not in metadata:
        raise conv.ConversionError(f'{model_path}: not a onestep model (no config in the metadata)')
    config = json.loads(metadata['config'])
    net = build_edm_network(networks, config)
    state = {k: torch.from_numpy(v.astype('float32')) for k, v in tensors.items()
             if not k.startswith('__')}
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or extra or wrong:
        raise conv.ConversionError(f'{model_path}: weights do not fit EDM\'s network (missing '
                                   f'{missing[:3]}, unexpected {extra[:3]}, mis-shaped {wrong[:3]})')
    net.load_state_dict(state, strict=True)
    net = net.eval().requires_grad_(False)
    sigma = float(config.get('one_step_sigma', 0) or 0)
    out_dir = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(out_dir):
        raise conv.ConversionError(f'--out {out_path}: directory {out_dir} does not exist')
    tmp = f'{out_path}.tmp.{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            pickle.dump({'ema': net, 'onestep_one_step_sigma': sigma,
                         'onestep_source': os.path.basename(model_path)}, f)
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return sigma


def main(argv=None):
    p = argparse.ArgumentParser(prog='onestep_to_edm.py', description=__doc__.split('\n')[0])
    p.add_argument('--edm', required=True, metavar='DIR', help='checkout of https://github.com/NVlabs/edm')
    p.add_argument('--model', required=True, metavar='PATH', help='onestep model (.safetensors)')
    p.add_argument('--out', required=True, metavar='PATH', help='EDM network pickle to write')
    args = p.parse_args(argv)
    try:
        if not os.path.isfile(args.model):
            raise conv.ConversionError(f'--model {args.model}: no such file')
        sigma = convert(args.edm, args.model, args.out)
    except conv.ConversionError as e:
        print(f'onestep_to_edm: error: {e}', file=sys.stderr)
        return 1
    except Exception as e:  # unexpected: still one line, with the exception type
        msg = str(e).splitlines()[0] if str(e) else ''
        print(f'onestep_to_edm: error: {type(e).__name__}: {msg}', file=sys.stderr)
        return 1
    if sigma > 0:
        print(f'{args.out}: one-step generator (sigma_init {sigma:g}); sample it with EDM as\n'
              f'  python generate.py --network {args.out} --outdir out --seeds 0-63 '
              f'--steps 2 --sigma_min {sigma:g} --sigma_max {sigma:g}')
    else:
        print(f'{args.out}: denoiser; sample it with EDM as\n'
              f'  python generate.py --network {args.out} --outdir out --seeds 0-63')
    return 0


if __name__ == '__main__':
    sys.exit(main())
