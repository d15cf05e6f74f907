#!/usr/bin/env python3
"""PyTorch reference for `onestep bench`: the same SongUNet (EDM's DDPM++), the same three
workloads, the same batch, precision and thread count, timed the same way.

    /usr/bin/python3 bench/torch_reference.py --workload teacher --config fmnist --batch 64 \
        --threads 2 [--device cpu|cuda] [--compile] [--graphs] [--precision fp32|tf32|bf16]
    /usr/bin/python3 bench/torch_reference.py --verify tests/data/edm_songunet_tiny.safetensors

Workloads (bench/README-free: docs/PERFORMANCE.md describes them):
  teacher   one EDM training step: ln sigma ~ N(-1.2, 1.2), lambda-weighted denoising loss summed
            per sample and averaged, forward + backward + Adam (betas 0.9/0.999, eps 1e-8).
  distill   one Uni-Instruct (Jeffreys) iteration as in distill/src/distill.cpp: fake-score step
            (generator sample without grad, EDM loss of the fake network on the Karras grid, the
            discriminator BCE on real and fake samples through the fake network's encoder, clip
            to norm 1, Adam) then generator step (generator with grad, frozen teacher and fake
            network evaluated at x_t with gradients through their input, discriminator logit,
            Uni-Instruct loss with the GAN term, Adam). Adam betas 0/0.999.
  generate  one-step generation without grad: D(2.5 z; 2.5).
  adam      the teacher's Adam step alone (betas 0.9/0.999) on fixed random gradients:
            torch.optim.Adam's default (foreach) implementation, fused=True on a GPU.

The network is this file's own implementation of SongUNet with EDM's parameter names (docs/EDM_CHECKPOINTS.md),
so onestep's safetensors weights and EDM's converted checkpoints load unchanged;
--verify checks it against tests/data/edm_songunet_*.safetensors (EDM's own outputs).

Output: one JSON line with the median step time in ms (>= 10 steps after warm-up), the spread,
and peak memory (CPU: the process's peak RSS; CUDA: torch.cuda.max_memory_allocated).
CPU timing uses time.perf_counter; CUDA timing uses CUDA events around each step.
"""

import argparse
import json
import math
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------------
# Network configs: the onestep presets (diffusion/src/teacher_options.cpp), 1x32x32 for
# Fashion-MNIST (padded to 32), 3x32x32 for CIFAR-10.

CONFIGS = {
    'fmnist': dict(img_resolution=32, in_channels=1, out_channels=1, model_channels=64,
                   channel_mult=[1, 2, 2], num_blocks=2, attn_resolutions=[8], dropout=0.1),
    'fmnist-cpu': dict(img_resolution=32, in_channels=1, out_channels=1, model_channels=32,
                       channel_mult=[1, 1, 2], num_blocks=1, attn_resolutions=[8], dropout=0.0),
    'cifar10': dict(img_resolution=32, in_channels=3, out_channels=3, model_channels=128,
                    channel_mult=[2, 2, 2], num_blocks=4, attn_resolutions=[16], dropout=0.13),
}

SIGMA_DATA = 0.5


def xavier_uniform(shape, fan_in, fan_out, scale):
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(shape) * 2 - 1) * bound * scale


class Linear(nn.Module):
    def __init__(self, cin, cout, bias=True, scale=1.0):
        super().__init__()
        self.weight = nn.Parameter(xavier_uniform([cout, cin], cin, cout, scale))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class Conv2d(nn.Module):
    """kernel x kernel convolution (padding kernel//2) after optional nearest x2 up or 2x2
    average down; the [1,1] resampling filter of DDPM++ is exactly that."""

    def __init__(self, cin, cout, kernel, up=False, down=False, scale=1.0):
        super().__init__()
        self.in_channels, self.up, self.down, self.kernel = cin, up, down, kernel
        fan_in, fan_out = cin * kernel * kernel, cout * kernel * kernel
        self.weight = nn.Parameter(xavier_uniform([cout, cin, kernel, kernel], fan_in, fan_out, scale))
        self.bias = nn.Parameter(torch.zeros(cout))
        if up or down:  # a buffer in EDM's state_dict; the filter is fixed to [1,1]
            self.register_buffer('resample_filter', torch.full([1, 1, 2, 2], 0.25))

    def forward(self, x):
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode='nearest')
        if self.down:
            x = F.avg_pool2d(x, 2)
        return F.conv2d(x, self.weight, self.bias, padding=self.kernel // 2)


class GroupNorm(nn.Module):
    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.groups = min(32, channels // 4)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return F.group_norm(x, self.groups, self.weight, self.bias, self.eps)


def attention(q, k, v):
    """q, k, v: [B, c, L] -> [B, c, L], softmax over keys of q.k / sqrt(c)."""
    if hasattr(F, 'scaled_dot_product_attention'):  # PyTorch >= 2.0: its fastest kernel
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return out.transpose(1, 2)
    w = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(q.shape[1]), dim=2)
    return torch.bmm(v, w.transpose(1, 2))


class UNetBlock(nn.Module):
    def __init__(self, cin, cout, emb_channels, up=False, down=False, attn=False, dropout=0.0):
        super().__init__()
        self.in_channels, self.out_channels, self.attn = cin, cout, attn
        self.dropout = dropout
        self.norm0 = GroupNorm(cin)
        self.conv0 = Conv2d(cin, cout, 3, up=up, down=down)
        self.affine = Linear(emb_channels, cout)
        self.norm1 = GroupNorm(cout)
        self.conv1 = Conv2d(cout, cout, 3, scale=1e-5)
        self.skip = Conv2d(cin, cout, 1, up=up, down=down) if (cout != cin or up or down) else None
        if attn:
            self.norm2 = GroupNorm(cout)
            self.qkv = Conv2d(cout, cout * 3, 1, scale=math.sqrt(0.2))
            self.proj = Conv2d(cout, cout, 1, scale=1e-5)

    def forward(self, x, emb):
        orig = x
        x = self.conv0(F.silu(self.norm0(x)))
        x = F.silu(self.norm1(x + self.affine(emb)[:, :, None, None]))
        x = self.conv1(F.dropout(x, self.dropout, self.training))
        x = (x + (self.skip(orig) if self.skip is not None else orig)) * math.sqrt(0.5)
        if self.attn:
            n, c, h, w = x.shape
            qkv = self.qkv(self.norm2(x)).reshape(n, c, 3, h * w)  # (channel, {q,k,v}) order
            a = attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2])
            x = (self.proj(a.reshape(n, c, h, w)) + x) * math.sqrt(0.5)
        return x


class SongUNet(nn.Module):
    def __init__(self, img_resolution, in_channels, out_channels, model_channels, channel_mult,
                 num_blocks, attn_resolutions, dropout, label_dim=0, augment_dim=0,
                 channel_mult_emb=4):
        super().__init__()
        emb_channels = model_channels * channel_mult_emb
        self.noise_channels = model_channels
        self.label_dim = label_dim
        self.map_label = Linear(label_dim, model_channels) if label_dim else None
        self.map_augment = Linear(augment_dim, model_channels, bias=False) if augment_dim else None
        self.map_layer0 = Linear(model_channels, emb_channels)
        self.map_layer1 = Linear(emb_channels, emb_channels)
        block = dict(emb_channels=emb_channels, dropout=dropout)
        self.enc = nn.ModuleDict()
        cout, skips = in_channels, []
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            if level == 0:
                cin, cout = cout, model_channels
                self.enc[f'{res}x{res}_conv'] = Conv2d(cin, cout, 3)
            else:
                self.enc[f'{res}x{res}_down'] = UNetBlock(cout, cout, down=True, **block)
            skips.append(cout)
            for idx in range(num_blocks):
                cin, cout = cout, model_channels * mult
                self.enc[f'{res}x{res}_block{idx}'] = UNetBlock(
                    cin, cout, attn=res in attn_resolutions, **block)
                skips.append(cout)
        self.dec = nn.ModuleDict()
        for level in reversed(range(len(channel_mult))):
            res = img_resolution >> level
            if level == len(channel_mult) - 1:
                self.dec[f'{res}x{res}_in0'] = UNetBlock(cout, cout, attn=True, **block)
                self.dec[f'{res}x{res}_in1'] = UNetBlock(cout, cout, **block)
            else:
                self.dec[f'{res}x{res}_up'] = UNetBlock(cout, cout, up=True, **block)
            for idx in range(num_blocks + 1):
                cin, cout = cout + skips.pop(), model_channels * channel_mult[level]
                self.dec[f'{res}x{res}_block{idx}'] = UNetBlock(
                    cin, cout, attn=(idx == num_blocks and res in attn_resolutions), **block)
            if level == 0:
                self.dec[f'{res}x{res}_aux_norm'] = GroupNorm(cout)
                self.dec[f'{res}x{res}_aux_conv'] = Conv2d(cout, out_channels, 3, scale=1e-5)

    def embed(self, noise_labels, class_labels):
        half = self.noise_channels // 2
        freqs = (1 / 10000) ** (torch.arange(half, dtype=noise_labels.dtype,
                                             device=noise_labels.device) / (half - 1))
        angles = noise_labels.reshape(-1, 1) * freqs.reshape(1, -1)
        emb = torch.cat([angles.sin(), angles.cos()], dim=1)  # EDM's flip: sin half first
        if self.map_label is not None:
            emb = emb + self.map_label(class_labels * math.sqrt(self.label_dim))
        emb = F.silu(self.map_layer0(emb.to(self.map_layer0.weight.dtype)))
        return F.silu(self.map_layer1(emb))

    def encoder(self, x, emb):
        skips = []
        for block in self.enc.values():
            x = block(x) if isinstance(block, Conv2d) else block(x, emb)
            skips.append(x)
        return skips

    def encode(self, x, noise_labels, class_labels=None):
        return self.encoder(x, self.embed(noise_labels, class_labels))[-1]

    def forward(self, x, noise_labels, class_labels=None):
        emb = self.embed(noise_labels, class_labels)
        skips = self.encoder(x, emb)
        x, aux, tmp = skips[-1], None, None
        for name, block in self.dec.items():
            if name.endswith('aux_norm'):
                tmp = block(x)
            elif name.endswith('aux_conv'):
                tmp = block(F.silu(tmp))
                aux = tmp if aux is None else tmp + aux
            else:
                if x.shape[1] != block.in_channels:
                    x = torch.cat([x, skips.pop()], dim=1)
                x = block(x, emb)
        return aux


class EDMPrecond(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def coefficients(self, x, sigma):
        s = sigma.reshape(-1, 1, 1, 1).to(x.dtype)
        total = s * s + SIGMA_DATA ** 2
        return s, SIGMA_DATA ** 2 / total, s * SIGMA_DATA * total.rsqrt(), total.rsqrt()

    def forward(self, x, sigma, class_labels=None):
        s, c_skip, c_out, c_in = self.coefficients(x, sigma)
        out = self.model(x * c_in, s.log().flatten() / 4, class_labels)
        return c_skip * x + c_out * out.to(x.dtype)

    def encode(self, x, sigma, class_labels=None):
        s, _, _, c_in = self.coefficients(x, sigma)
        return self.model.encode(x * c_in, s.log().flatten() / 4, class_labels)


# ---------------------------------------------------------------------------------------------
# safetensors (read only; the format is 8-byte header length, JSON header, raw data).

def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (header_len,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    types = {'F32': np.float32, 'F64': np.float64, 'I64': np.int64}
    tensors = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        lo, hi = info['data_offsets']
        array = np.frombuffer(data[base + lo:base + hi], dtype=types[info['dtype']])
        tensors[name] = torch.from_numpy(array.reshape(info['shape']).copy())
    return tensors, header.get('__metadata__', {})


def verify(path):
    """Evaluates the network stored in an EDM golden file on its inputs; prints the largest
    deviation from EDM's float64 reference output."""
    tensors, meta = read_safetensors(path)
    net_cfg = json.loads(meta['config'])['network']
    model = SongUNet(img_resolution=net_cfg['img_resolution'], in_channels=net_cfg['in_channels'],
                     out_channels=net_cfg['out_channels'], model_channels=net_cfg['model_channels'],
                     channel_mult=net_cfg['channel_mult'], num_blocks=net_cfg['num_blocks'],
                     attn_resolutions=net_cfg['attn_resolutions'], dropout=0.0,
                     label_dim=net_cfg.get('label_dim', 0), augment_dim=net_cfg.get('augment_dim', 0),
                     channel_mult_emb=net_cfg.get('channel_mult_emb', 4))
    net = EDMPrecond(model).double().eval()
    weights = {k: v for k, v in tensors.items() if not k.startswith('__')}
    net.load_state_dict({k: v.double() for k, v in weights.items()}, strict=True)
    labels = tensors.get('__input_class_labels')
    with torch.no_grad():
        d = net(tensors['__input_x'].double(), tensors['__input_sigma'].double(),
                None if labels is None else labels.double())
    ref = tensors['__output_D']
    err = (d - ref).abs().max().item()
    scale = ref.abs().max().item()
    print(json.dumps({'verify': path, 'max_abs_error': err, 'max_abs_reference': scale}))
    return err <= 1e-5 * max(1.0, scale)


# ---------------------------------------------------------------------------------------------
# Workloads

def karras_grid_sigmas(n, device, sigma_min=0.002, sigma_max=80.0, rho=7.0, u_max=0.8):
    hi, lo = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    u = torch.rand(n, device=device) * u_max
    return ((1 - u) * (lo - hi) + hi) ** rho


def edm_loss_at(net, x0, sigma):
    s = sigma.reshape(-1, 1, 1, 1)
    weight = (s * s + SIGMA_DATA ** 2) / (s * s * SIGMA_DATA ** 2)
    denoised = net(x0 + torch.randn_like(x0) * s, sigma)
    return (weight * (denoised - x0) ** 2).flatten(1).sum(1)


def per_sample_dot(a, b):
    return (a * b).flatten(1).sum(1)


def make_net(config, device, dtype):
    return EDMPrecond(SongUNet(**CONFIGS[config])).to(device=device, dtype=dtype)


class Teacher:
    def __init__(self, args, device, dtype):
        self.net = make_net(args.config, device, dtype).train()
        self.adam = make_adam(self.net.parameters(), args, betas=(0.9, 0.999))
        c = CONFIGS[args.config]
        self.x0 = torch.rand([args.batch, c['in_channels'], 32, 32], device=device) * 2 - 1

    def step(self):
        with autocast(self.args_precision, self.args_device):
            sigma = (torch.randn(self.x0.shape[0], device=self.x0.device) * 1.2 - 1.2).exp()
            loss = edm_loss_at(self.net, self.x0, sigma).mean()
        self.adam.zero_grad(set_to_none=True)
        loss.backward()
        self.adam.step()


class Distill:
    def __init__(self, args, device, dtype):
        self.teacher = make_net(args.config, device, dtype).eval().requires_grad_(False)
        self.generator = make_net(args.config, device, dtype).eval()
        self.fake = make_net(args.config, device, dtype).eval()
        for net in (self.generator, self.fake):
            net.load_state_dict(self.teacher.state_dict())
        self.adam_g = make_adam(self.generator.parameters(), args, betas=(0.0, 0.999))
        self.adam_f = make_adam(self.fake.parameters(), args, betas=(0.0, 0.999))
        c = CONFIGS[args.config]
        self.shape = [args.batch, c['in_channels'], 32, 32]
        self.elements = c['in_channels'] * 32 * 32
        self.real = torch.rand(self.shape, device=device) * 2 - 1

    def logit(self, x, sigma):
        return self.fake.encode(x, sigma).flatten(1).mean(1)

    def fake_step(self):
        n, dev = self.shape[0], self.real.device
        with torch.no_grad():
            x_g = self.generator(torch.randn(self.shape, device=dev) * 2.5,
                                 torch.full([n], 2.5, device=dev))
        loss = edm_loss_at(self.fake, x_g, karras_grid_sigmas(n, dev)).mean()
        sigma = karras_grid_sigmas(n, dev)
        noise = torch.randn(self.shape, device=dev)
        s = sigma.reshape(-1, 1, 1, 1)
        bce = (F.softplus(-self.logit(self.real + noise * s, sigma)) +
               F.softplus(self.logit(x_g + noise * s, sigma))) * 0.5
        loss = loss + bce.mean() * self.elements
        self.adam_f.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.fake.parameters(), 1.0)
        self.adam_f.step()

    def generator_step(self):
        n, dev = self.shape[0], self.real.device
        self.fake.requires_grad_(False)
        x_g = self.generator(torch.randn(self.shape, device=dev) * 2.5,
                             torch.full([n], 2.5, device=dev))
        sigma = karras_grid_sigmas(n, dev)
        x_t = x_g + torch.randn(self.shape, device=dev) * sigma.reshape(-1, 1, 1, 1)
        d_p = self.teacher(x_t, sigma)
        d_q = self.fake(x_t, sigma)
        logit = self.logit(x_t, sigma)
        # Uni-Instruct with the Jeffreys divergence: h = r + 1, h - r h' = 1, r^2 h'' = 0; the
        # ratio's gradient goes through the discriminator, so there is no closed-form DI term.
        r = logit.clamp(math.log(1e-3), math.log(1e3)).exp()
        with torch.no_grad():
            nu = (x_g - d_p).abs().flatten(1).mean(1).clamp(min=1e-5)
        delta = d_p - d_q
        delta_sq = per_sample_dot(delta, delta)
        sim = (r + 1) * per_sample_dot(delta, d_q - x_g)
        path = delta_sq * 0.5
        score = ((sim + path) / nu).mean() / self.elements
        gan = F.softplus(-logit.clamp(-10, 10)).mean()
        loss = score * 100.0 + gan * 0.01
        self.adam_g.zero_grad(set_to_none=True)
        loss.backward()
        self.adam_g.step()
        self.fake.requires_grad_(True)

    def step(self):
        with autocast(self.args_precision, self.args_device):
            self.fake_step()
            self.generator_step()


class Generate:
    def __init__(self, args, device, dtype):
        self.net = make_net(args.config, device, dtype).eval().requires_grad_(False)
        c = CONFIGS[args.config]
        self.shape = [args.batch, c['in_channels'], 32, 32]
        self.device = device

    def step(self):
        with torch.no_grad(), autocast(self.args_precision, self.args_device):
            self.out = self.net(torch.randn(self.shape, device=self.device) * 2.5,
                                torch.full([self.shape[0]], 2.5, device=self.device))


class AdamStep:
    """The teacher's optimizer step alone, on fixed random gradients."""

    def __init__(self, args, device, dtype):
        self.net = make_net(args.config, device, dtype)
        for q in self.net.parameters():
            q.grad = torch.randn_like(q) * 1e-2
        self.adam = make_adam(self.net.parameters(), args, betas=(0.9, 0.999))

    def step(self):
        self.adam.step()


def make_adam(params, args, betas):
    kwargs = dict(lr=1e-4, betas=betas, eps=1e-8)
    if args.device == 'cuda':
        try:  # the fastest Adam PyTorch has on a GPU
            return torch.optim.Adam(params, fused=True, **kwargs)
        except (TypeError, RuntimeError):
            pass
    return torch.optim.Adam(params, **kwargs)


class autocast:
    """bf16 autocast on the workload's device when asked; a no-op otherwise."""

    def __init__(self, precision, device_type):
        self.ctx = (torch.autocast(device_type, dtype=torch.bfloat16) if precision == 'bf16'
                    else None)

    def __enter__(self):
        if self.ctx:
            self.ctx.__enter__()

    def __exit__(self, *exc):
        if self.ctx:
            self.ctx.__exit__(*exc)


# ---------------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--workload', choices=['teacher', 'distill', 'generate', 'adam'],
                   default='teacher')
    p.add_argument('--config', choices=sorted(CONFIGS), default='fmnist')
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    p.add_argument('--threads', type=int, default=0, help='CPU threads (0: every core)')
    p.add_argument('--precision', choices=['fp32', 'tf32', 'bf16'], default='fp32')
    p.add_argument('--compile', action='store_true', help='torch.compile the step (PyTorch >= 2)')
    p.add_argument('--graphs', action='store_true', help='CUDA graphs (with --compile: '
                   'mode="reduce-overhead"; eager: torch.cuda.graphs capture of the step)')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--verify', metavar='GOLDEN', nargs='*',
                   help='check the network against EDM golden files and exit')
    args = p.parse_args()

    if args.verify is not None:
        paths = args.verify or ['tests/data/edm_songunet_tiny.safetensors',
                                'tests/data/edm_songunet_augment.safetensors']
        sys.exit(0 if all([verify(path) for path in paths]) else 1)

    if args.steps < 10:
        p.error('--steps must be >= 10 (medians of at least 10 steps)')
    if args.device == 'cuda' and not torch.cuda.is_available():
        p.error('--device cuda: PyTorch sees no GPU')
    if args.device == 'cpu' and (args.graphs or args.precision == 'tf32'):
        p.error('--graphs and --precision tf32 need --device cuda')
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = args.precision == 'tf32'
    torch.backends.cudnn.allow_tf32 = args.precision == 'tf32'
    torch.backends.cudnn.benchmark = True
    device = torch.device(args.device)
    workload = {'teacher': Teacher, 'distill': Distill, 'generate': Generate,
                'adam': AdamStep}[args.workload](
        args, device, torch.float32)
    workload.args_precision = args.precision
    workload.args_device = args.device
    step = workload.step
    if args.compile:
        mode = 'reduce-overhead' if args.graphs else None
        for name in ('net', 'teacher', 'generator', 'fake'):
            if hasattr(workload, name):
                setattr(workload, name, torch.compile(getattr(workload, name), mode=mode))
    elif args.graphs:
        step = capture_graph(step, device, args.warmup)

    times = []
    for i in range(args.warmup + args.steps):
        if args.device == 'cuda':
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            if i == args.warmup:
                torch.cuda.reset_peak_memory_stats()
            start.record()
            step()
            end.record()
            end.synchronize()
            ms = start.elapsed_time(end)
        else:
            t0 = time.perf_counter()
            step()
            ms = (time.perf_counter() - t0) * 1e3
        if i >= args.warmup:
            times.append(ms)
    times.sort()
    if args.device == 'cuda':
        peak = torch.cuda.max_memory_allocated()
        peak_kind = 'cuda_max_memory_allocated'
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        peak_kind = 'peak_rss'
    params = sum(q.numel() for q in make_net(args.config, 'cpu', torch.float32).parameters())
    print(json.dumps({
        'impl': 'pytorch', 'version': torch.__version__, 'workload': args.workload,
        'config': args.config, 'batch': args.batch, 'device': args.device,
        'threads': torch.get_num_threads() if args.device == 'cpu' else None,
        'precision': args.precision, 'compile': args.compile, 'graphs': args.graphs,
        'parameters': params, 'steps': args.steps, 'median_ms': times[len(times) // 2],
        'min_ms': times[0], 'max_ms': times[-1], 'peak_memory_bytes': peak,
        'peak_memory_kind': peak_kind}))


def capture_graph(step, device, warmup):
    """Eager CUDA graph of the whole step (random numbers and Adam included): one replay per
    step, no launches from Python."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(max(warmup, 3)):  # Adam's state and cuDNN plans exist before capture
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


if __name__ == '__main__':
    main()
