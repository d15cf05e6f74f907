#!/usr/bin/env python3
"""Generate golden test data for onestep's SongUNet / DhariwalUNet / EDMPrecond and its Heun
sampler from EDM's own code.

Usage:
    /usr/bin/python3 tools/make_edm_golden.py --edm ~/edm [--out tests/data] [--only tiny,...]

--edm is a checkout of https://github.com/NVlabs/edm; its training/networks.py and generate.py
are imported (this script contains no EDM code). For each small config below the script builds
EDMPrecond(img_resolution, img_channels, label_dim, model_type=..., **kwargs), seeds
torch, replaces every parameter with randn * 0.2 ('stored' configs; 'formula' configs: the
counter-based formula_values below, not stored in the file), except GroupNorm weights which
become 1 + the same (EDM's own init makes the zero-initialised convs ~1e-5, so the output would
hardly depend on most layers; GroupNorm gains centred at 0 instead of 1 make every block shrink
its residual branch, and perturbations of the lowest resolution then reach the output ~1000x
attenuated), keeps the buffers
(resample_filter, FourierEmbedding.freqs) as EDM made them, and evaluates the network in eval
mode on fixed inputs, and runs EDM's 18-step Heun sampler (generate.py's edm_sampler) from fixed
latents. It writes tests/data/edm_<model type>_<name>.safetensors with (docs/EDM_CHECKPOINTS.md
lists every entry):

  model.*                 the EDMPrecond state_dict, EDM's exact keys, float32 (formula configs:
                          the buffers only)
  __input_x               [N,C,H,W] float32, noisy images
  __input_sigma           [N] float32
  __input_class_labels    [N,label_dim] float32 one-hot (conditional configs only)
  __output_D, __output_F  float64 reference: EDMPrecond output D(x; sigma) and the raw SongUNet
                          output F(c_in x, c_noise, labels), computed from the float32 weights
                          and inputs in float64 throughout (see "precision" below)
  __output_D_f32, __output_F_f32
                          EDM's network run exactly as EDM runs it (EDMPrecond.forward, float32)
  __output_emb            float64 embedding (the vector fed to every block's affine layer), to
                          localise mismatches
  __sampler_latents, __sampler_class_labels
                          the sampler's unit-variance latents [2,C,H,W] and one-hot classes
  __output_heun_f32       edm_sampler verbatim (float32 network, float64 state), float64
  __output_heun           edm_sampler with the float64 denoiser

Metadata: "config" (onestep model config JSON, built by edm_to_safetensors.network_config from
the network's recorded constructor arguments), "generator" (command line, torch version),
"reference" (how the references were computed), "group_norm_groups" (JSON: channels -> [groups,
eps] over all GroupNorm modules), "sigma", "seed", "weights" ('stored' or 'formula'),
"edm_state_dict" (JSON: [name, shape] of every state_dict entry), "groupnorm_weights".

Precision: EDMPrecond.forward casts x and sigma to float32 and asserts that the model output is
float32, so it cannot run in float64. The float64 reference therefore calls the pieces (c_skip,
c_out, c_in, c_noise, then net.model) on a float64 copy of the network. Two places of EDM's
SongUNet compute in float32 whatever the input dtype: AttentionOp (einsum + softmax in float32)
and PositionalEmbedding (frequencies built as a float32 arange); for the float64 reference these
two are evaluated in float64 by this script (same formulas, higher precision). Everything else is
EDM's code unchanged. __output_*_f32 is EDM verbatim.
"""

import argparse
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import edm_to_safetensors as conv  # noqa: E402  (safetensors writer, config builder)

SIGMAS = [0.02, 0.7, 30.0]
PARAM_SCALE = 0.2

# name -> (EDMPrecond interface, model_type, network kwargs, weights). model_channels is 8 for the
# SongUNets (not EDM-like 16+) so that each file stays under 300 KB; 8 channels still give
# GroupNorm 2 groups, 16 -> 4, 24 -> 6. weights 'stored': randn * 0.2 saved in the file;
# 'formula': a counter-based hash of (name, index) that onestep's test recomputes exactly, so that
# DhariwalUNets wide enough for attention (one head per 64 channels) need no megabytes of weights.
CONFIGS = {
    # DDPM++-style, class-conditional, 2 levels, attention at 4x4 (encoder block, decoder in0 and
    # last decoder block of the level).
    'tiny': (dict(img_resolution=8, img_channels=2, label_dim=3), 'SongUNet',
             dict(model_channels=8, channel_mult=[1, 2], num_blocks=1, attn_resolutions=[4],
                  dropout=0, embedding_type='positional', augment_dim=0), 'stored'),
    # Fourier noise embedding (NCSN++'s) with DDPM++'s standard encoder/decoder and [1,1] filter,
    # channel_mult_noise 2, channel_mult_emb 1 (emb narrower than the noise embedding; keeps the
    # file under 300 KB), 3 levels, 2 blocks per level, channel_mult starting at 2 (like
    # CIFAR-10's [2,2,2]: the level-0 conv outputs model_channels, the first block widens),
    # attention at 8x8 and 2x2.
    'fourier': (dict(img_resolution=8, img_channels=1, label_dim=0), 'SongUNet',
                dict(model_channels=8, channel_mult=[2, 1, 1], num_blocks=2, attn_resolutions=[8, 2],
                     dropout=0, embedding_type='fourier', channel_mult_noise=2, channel_mult_emb=1,
                     augment_dim=0, encoder_type='standard', decoder_type='standard',
                     resample_filter=[1, 1]), 'stored'),
    # Unconditional with an augmentation-label mapping (map_augment exists, augment_labels=None).
    'augment': (dict(img_resolution=8, img_channels=2, label_dim=0), 'SongUNet',
                dict(model_channels=8, channel_mult=[1, 2], num_blocks=1, attn_resolutions=[4],
                     dropout=0, embedding_type='positional', augment_dim=9), 'stored'),
    # NCSN++ as EDM's edm-*-ve.pkl networks: residual encoder, [1,3,3,1] filter, Fourier
    # embedding with channel_mult_noise 2; conditional, 3 channels, 3 levels.
    'ncsnpp': (dict(img_resolution=8, img_channels=3, label_dim=3), 'SongUNet',
               dict(model_channels=8, channel_mult=[2, 1, 1], num_blocks=1, attn_resolutions=[4],
                    dropout=0, embedding_type='fourier', channel_mult_noise=2, channel_mult_emb=1,
                    augment_dim=0, encoder_type='residual', decoder_type='standard',
                    resample_filter=[1, 3, 3, 1]), 'stored'),
    # SongUNet's remaining variants: skip encoder and skip decoder (no public checkpoint uses them).
    'skip': (dict(img_resolution=8, img_channels=1, label_dim=0), 'SongUNet',
             dict(model_channels=8, channel_mult=[1, 1, 1], num_blocks=1, attn_resolutions=[2],
                  dropout=0, embedding_type='positional', channel_mult_emb=1, augment_dim=0,
                  encoder_type='skip', decoder_type='skip', resample_filter=[1, 3, 3, 1]),
             'stored'),
    # ADM (EDM's ImageNet-64 architecture), class-conditional, 3 channels, 32 px; attention at
    # 16x16 only, where 128 channels give two heads; with map_augment (unused by the sampler).
    'adm32': (dict(img_resolution=32, img_channels=3, label_dim=10), 'DhariwalUNet',
              dict(model_channels=64, channel_mult=[1, 2], channel_mult_emb=2, num_blocks=1,
                   attn_resolutions=[16], dropout=0, augment_dim=9), 'formula'),
    # ADM at 64 px, 3 levels: one head at 32x32 (64 channels), two at 16x16.
    'adm64': (dict(img_resolution=64, img_channels=3, label_dim=10), 'DhariwalUNet',
              dict(model_channels=64, channel_mult=[1, 1, 2], channel_mult_emb=1, num_blocks=1,
                   attn_resolutions=[32, 16], dropout=0), 'formula'),
}

# EDM's 18-step Heun sampler (generate.py's edm_sampler, S_churn 0) on this many latents.
SAMPLER_BATCH = 2
SAMPLER_STEPS = 18

# Formula weights: value(name, i) = (u - 0.5) * FORMULA_SPAN with u = hash(crc32(name), i) / 2^32,
# computed in float64 and rounded to float32 (GroupNorm gains: 1 + value); uniform with standard
# deviation PARAM_SCALE. tests/diffusion/test_edm_golden.cpp recomputes it.
FORMULA_SPAN = 0.6928203230275509  # 2 sqrt(3) * 0.2


def formula_values(np, name, n):
    import zlib
    m = np.uint64(0xFFFFFFFF)
    i = np.arange(n, dtype=np.uint64)
    x = (np.uint64(zlib.crc32(name.encode())) * np.uint64(0x9E3779B1) + i * np.uint64(0x85EBCA77)
         + np.uint64(0x165667B1)) & m
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x2C1B3C6D)) & m
    x ^= x >> np.uint64(12)
    x = (x * np.uint64(0x297A2D39)) & m
    x ^= x >> np.uint64(15)
    return (x.astype(np.float64) / 4294967296.0 - 0.5) * FORMULA_SPAN


class _AttentionF64:
    """softmax_k(sum_c q[c,q] k[c,k] / sqrt(C)) in the input dtype (EDM's AttentionOp does it in
    float32); forward only."""
    @staticmethod
    def apply(q, k):
        import torch
        return torch.einsum('ncq,nck->nqk', q, k / (k.shape[1] ** 0.5)).softmax(dim=2)


def _positional_f64(self, x):
    """PositionalEmbedding.forward with the frequencies in x's dtype (EDM builds them in float32)."""
    import torch
    half = self.num_channels // 2
    freqs = torch.arange(half, dtype=x.dtype, device=x.device)
    freqs = freqs / (half - (1 if self.endpoint else 0))
    freqs = (1 / self.max_positions) ** freqs
    x = x.ger(freqs)
    return torch.cat([x.cos(), x.sin()], dim=1)


class _Denoiser64:
    """EDMPrecond's D(x; sigma) on a float64 copy of the network, with EDM's two internal float32
    spots (attention softmax, positional frequencies) in float64; also usable as the `net` of
    EDM's edm_sampler (sigma_min, sigma_max, round_sigma, __call__)."""
    sigma_min = 0
    sigma_max = float('inf')

    def __init__(self, networks, net, labels):
        import copy
        self.networks = networks
        self.net64 = copy.deepcopy(net).double()
        self.sd = float(net.sigma_data)
        self.labels = None if labels is None else labels.double()
        mp = self.net64.model.map_noise
        if type(mp).__name__ == 'PositionalEmbedding':
            mp.forward = types.MethodType(_positional_f64, mp)

    def round_sigma(self, sigma):
        import torch
        return torch.as_tensor(sigma)

    def pieces(self, x64, sigma):
        """(D, F, emb) for x64 [N,C,H,W] float64 and sigma (scalar or [N])."""
        import torch
        s64 = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1, 1, 1, 1).expand(x64.shape[0], 1, 1, 1)
        sd = self.sd
        c_skip = sd ** 2 / (s64 ** 2 + sd ** 2)
        c_out = s64 * sd / (s64 ** 2 + sd ** 2).sqrt()
        c_in = 1 / (sd ** 2 + s64 ** 2).sqrt()
        c_noise = s64.log() / 4
        model = self.net64.model
        emb_cap = {}
        h = model.map_layer1.register_forward_hook(lambda m, i, o: emb_cap.__setitem__('emb', o))
        saved_attn = self.networks.AttentionOp
        self.networks.AttentionOp = _AttentionF64
        try:
            with torch.no_grad():
                F64 = model(c_in * x64, c_noise.flatten(), class_labels=self.labels)
                emb = emb_cap['emb']
                if type(model).__name__ == 'DhariwalUNet' and model.map_label is not None:
                    emb = emb + model.map_label(self.labels)  # DhariwalUNet adds labels after map_layer1
        finally:
            self.networks.AttentionOp = saved_attn
            h.remove()
        return c_skip * x64 + c_out * F64, F64, torch.nn.functional.silu(emb)

    def __call__(self, x, sigma, class_labels=None):
        return self.pieces(x.double(), sigma)[0]


def set_weights(torch, np, net, weights):
    """The parameters of the golden network (buffers keep EDM's values); returns the names of
    the GroupNorm gains."""
    gn_weights = {f'{m}.weight' for m, mod in net.named_modules() if type(mod).__name__ == 'GroupNorm'}
    with torch.no_grad():
        for pname, p in net.named_parameters():
            if weights == 'stored':
                r = torch.randn(p.shape) * PARAM_SCALE
                p.copy_(r + 1 if pname in gn_weights else r)
            else:
                v = formula_values(np, pname, p.numel())
                v = 1.0 + v if pname in gn_weights else v
                p.copy_(torch.from_numpy(v.astype(np.float32)).reshape(p.shape))
    return sorted(gn_weights)


def make_one(networks, generate, torch, np, name, seed, out_dir, cmdline):
    iface, model_type, kwargs, weights = CONFIGS[name]
    torch.manual_seed(seed)
    net = networks.EDMPrecond(**iface, model_type=model_type, **kwargs)
    gn_weights = set_weights(torch, np, net, weights)
    net.eval().requires_grad_(False)

    # Fixed inputs: x = x0 + sigma * eps, x0 ~ 0.5 N(0,1).
    C, R, L = iface['img_channels'], iface['img_resolution'], iface['label_dim']
    n = len(SIGMAS)
    g = torch.Generator().manual_seed(seed + 1)
    sigma = torch.tensor(SIGMAS, dtype=torch.float32)
    x = (0.5 * torch.randn([n, C, R, R], generator=g)
         + sigma.reshape(-1, 1, 1, 1) * torch.randn([n, C, R, R], generator=g)).to(torch.float32)
    labels = None
    if L:
        labels = torch.zeros([n, L], dtype=torch.float32)
        for i in range(n):
            labels[i, (2 * i) % L] = 1  # classes 0, 2, 1 for L = 3

    # (1) EDM verbatim, float32; capture F through a forward hook on net.model.
    captured = {}
    h = net.model.register_forward_hook(lambda m, i, o: captured.__setitem__('F', o.detach().clone()))
    with torch.no_grad():
        D32 = net(x, sigma, labels)
    h.remove()
    F32 = captured['F']
    assert D32.dtype == torch.float32 and F32.dtype == torch.float32

    # (2) float64 reference from the same float32 weights and inputs.
    D64, F64, emb64 = _Denoiser64(networks, net, labels).pieces(x.double(), sigma.double())
    assert F64.dtype == torch.float64

    # (3) EDM's 18-step Heun sampler: verbatim (float32 network, float64 ODE state) and with the
    # float64 denoiser.
    g = torch.Generator().manual_seed(seed + 2)
    latents = torch.randn([SAMPLER_BATCH, C, R, R], generator=g).to(torch.float32)
    sampler_labels = None
    if L:
        sampler_labels = torch.zeros([SAMPLER_BATCH, L], dtype=torch.float32)
        for i in range(SAMPLER_BATCH):
            sampler_labels[i, (i + 1) % L] = 1
    with torch.no_grad():
        heun32 = generate.edm_sampler(net, latents, class_labels=sampler_labels,
                                      num_steps=SAMPLER_STEPS)
        heun64 = generate.edm_sampler(_Denoiser64(networks, net, sampler_labels), latents.double(),
                                      class_labels=sampler_labels, num_steps=SAMPLER_STEPS)
    assert heun32.dtype == torch.float64 and heun64.dtype == torch.float64

    def rel(a, b):
        return float((a.double() - b.double()).abs().max() / b.double().abs().max())
    errF, errD, errS = rel(F32, F64), rel(D32, D64), rel(heun32, heun64)

    groups = {}  # channels -> [groups, eps], over all GroupNorm modules
    for _, m in net.named_modules():
        if type(m).__name__ == 'GroupNorm':
            groups[str(int(m.weight.shape[0]))] = [int(m.num_groups), float(m.eps)]
    groups = dict(sorted(groups.items(), key=lambda kv: int(kv[0])))

    weight_text = (f'parameters randn*{PARAM_SCALE} (GroupNorm weights 1+randn*{PARAM_SCALE}), torch seed {seed}'
                   if weights == 'stored' else
                   'parameters from the counter-based formula of tools/make_edm_golden.py '
                   '(formula_values; GroupNorm weights 1+value), not stored')
    cfg = conv.network_config(net, '', f'tools/make_edm_golden.py config "{name}": EDM EDMPrecond/'
                              f'{model_type}, {weight_text}')
    tensors = conv.state_dict_arrays(net)
    state_shapes = [[k, list(a.shape)] for k, a in tensors]
    if weights == 'formula':  # keep EDM's buffers only; the test recomputes the parameters
        buffers = {k for k, _ in net.named_buffers()}
        tensors = [(k, a) for k, a in tensors if k in buffers]
    tensors += [('__input_x', x.numpy()), ('__input_sigma', sigma.numpy())]
    if labels is not None:
        tensors.append(('__input_class_labels', labels.numpy()))
    tensors += [('__output_D', D64.numpy()), ('__output_F', F64.numpy()),
                ('__output_D_f32', D32.numpy()), ('__output_F_f32', F32.numpy()),
                ('__output_emb', emb64.numpy()),
                ('__sampler_latents', latents.numpy())]
    if sampler_labels is not None:
        tensors.append(('__sampler_class_labels', sampler_labels.numpy()))
    tensors += [('__output_heun', heun64.numpy()), ('__output_heun_f32', heun32.numpy())]
    meta = {
        'config': json.dumps(cfg, allow_nan=False),
        'generator': f'{cmdline} (torch {torch.__version__}, numpy {np.__version__})',
        'reference': ('__output_D/__output_F/__output_emb: float64 (EDM pieces on a float64 copy '
                      'of the float32 weights; AttentionOp and PositionalEmbedding frequencies '
                      'evaluated in float64 instead of EDM\'s internal float32). '
                      '__output_D_f32/__output_F_f32: EDMPrecond.forward verbatim in float32. '
                      f'__output_heun_f32: EDM generate.py edm_sampler verbatim ({SAMPLER_STEPS} '
                      'steps, S_churn 0) from __sampler_latents; __output_heun: the same sampler '
                      'with the float64 denoiser. '
                      f'max|f32-f64|/max|f64|: F {errF:.3g}, D {errD:.3g}, Heun {errS:.3g}. '
                      'augment_labels=None (as EDM\'s sampler).'),
        'group_norm_groups': json.dumps(groups),
        'sigma': json.dumps(SIGMAS),
        'seed': str(seed),
        'weights': weights,
        'edm_state_dict': json.dumps(state_shapes),
        'groupnorm_weights': json.dumps(gn_weights),
    }
    path = os.path.join(out_dir, f'edm_{model_type.lower()}_{name}.safetensors')
    conv.write_safetensors(path, tensors, meta)
    size = os.path.getsize(path)
    print(f'{path}: {len(tensors)} tensors, {size} bytes; rel f32-vs-f64 F {errF:.2e} D {errD:.2e} '
          f'Heun {errS:.2e}; |F| max {float(F64.abs().max()):.3g}, |Heun| max '
          f'{float(heun64.abs().max()):.3g}')
    if size >= 300 * 1024:
        print(f'warning: {path} is {size} bytes (>= 300 KB)', file=sys.stderr)
    return path


def main():
    p = argparse.ArgumentParser(description='Write EDM SongUNet golden files for onestep tests.')
    p.add_argument('--edm', required=True, metavar='DIR', help='checkout of NVlabs/edm')
    p.add_argument('--out', default=os.path.join(os.path.dirname(HERE), 'tests', 'data'),
                   metavar='DIR', help='output directory (default: tests/data of this repository)')
    p.add_argument('--only', default=','.join(CONFIGS), metavar='NAMES',
                   help=f'comma-separated subset of {", ".join(CONFIGS)}')
    p.add_argument('--seed', type=int, default=1234, help='torch seed (default 1234)')
    args = p.parse_args()
    try:
        conv.add_edm_to_path(args.edm)
    except conv.ConversionError as e:
        sys.exit(f'make_edm_golden: error: {e}')
    import numpy as np
    import torch
    from training import networks
    import generate  # EDM's generate.py: edm_sampler
    torch.set_num_threads(1)  # deterministic reductions
    cmdline = ' '.join(['tools/make_edm_golden.py'] + sys.argv[1:])
    for name in args.only.split(','):
        if name not in CONFIGS:
            sys.exit(f'make_edm_golden: error: unknown config {name!r}')
        make_one(networks, generate, torch, np, name, args.seed, args.out, cmdline)


if __name__ == '__main__':
    main()
