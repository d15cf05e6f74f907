#!/usr/bin/env python3
"""Convert an EDM network pickle (NVlabs/edm) into a self-describing onestep checkpoint.

Usage:
    python3 tools/edm_to_safetensors.py --edm ~/edm --pkl edm-cifar10-32x32-cond-vp.pkl \\
        --out teacher.safetensors [--data cifar10]

The pickle is one written by EDM's training loop (a dict whose 'ema' entry is an EDMPrecond)
or a bare EDMPrecond. Unpickling needs EDM's `dnnlib` and `torch_utils` packages, so --edm must
point at a checkout of https://github.com/NVlabs/edm; the network classes themselves come from
the source code stored inside the pickle (EDM's torch_utils.persistence).

The output is a safetensors file holding the EDMPrecond's state_dict with EDM's own keys
("model.enc.32x32_conv.weight", ..., buffers such as resample_filter and FourierEmbedding.freqs
included) in float32, and the onestep model config as JSON in the metadata key "config".
Networks onestep cannot run are refused with a one-line message and exit status 1.

Only PyTorch and numpy are needed (no `safetensors` package). See docs/EDM_CHECKPOINTS.md.
"""

import argparse
import copy
import inspect
import json
import math
import os
import pickle
import sys

SUPPORTED_PRECOND = 'EDMPrecond'

# Every constructor argument of each supported network, in EDM's order; all are written into
# the config.
_UNET_KWARGS = [
    'img_resolution', 'in_channels', 'out_channels', 'label_dim', 'augment_dim',
    'model_channels', 'channel_mult', 'channel_mult_emb', 'num_blocks', 'attn_resolutions',
    'dropout', 'label_dropout',
]
SONGUNET_KWARGS = _UNET_KWARGS + [
    'embedding_type', 'channel_mult_noise', 'encoder_type', 'decoder_type', 'resample_filter',
]
DHARIWALUNET_KWARGS = list(_UNET_KWARGS)
# EDM model_type -> (constructor arguments, onestep arch name)
SUPPORTED_MODELS = {
    'SongUNet': (SONGUNET_KWARGS, 'songunet'),
    'DhariwalUNet': (DHARIWALUNET_KWARGS, 'dhariwalunet'),
}


class ConversionError(Exception):
    """A network or file that cannot be converted; the message is shown as one line."""


# ------------------------------------------------------------------------------------------
# safetensors writer (no external package)

_DTYPE_NAMES = {'float32': 'F32', 'float64': 'F64', 'int64': 'I64', 'float16': 'F16', 'int32': 'I32'}


def write_safetensors(path, tensors, metadata):
    """Write `tensors` (list of (name, numpy array)) and `metadata` (dict str -> str).

    Layout: 8-byte little-endian header length, JSON header padded with spaces to a multiple
    of 8 bytes, then the raw little-endian data of every tensor in the given order. The file
    is written to a temporary name and renamed into place.
    """
    import numpy as np
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ConversionError(f'metadata must map str to str (bad entry {k!r})')
        header['__metadata__'] = dict(metadata)
    blobs = []
    offset = 0
    for name, arr in tensors:
        if name in header:
            raise ConversionError(f'duplicate tensor name {name!r}')
        arr = np.asarray(arr)
        dt = _DTYPE_NAMES.get(arr.dtype.name)
        if dt is None:
            raise ConversionError(f'tensor {name!r}: unsupported dtype {arr.dtype}')
        data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': dt, 'shape': [int(s) for s in arr.shape],
                        'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(',', ':'), ensure_ascii=True).encode('utf-8')
    hjson += b' ' * ((-len(hjson)) % 8)
    tmp = f'{path}.tmp.{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            f.write(len(hjson).to_bytes(8, 'little'))
            f.write(hjson)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file: name -> numpy array (BF16 widened to float32),
    and the metadata dict. Raises ConversionError on a malformed or truncated file."""
    import numpy as np
    kinds = {'F32': np.float32, 'F64': np.float64, 'F16': np.float16, 'I64': np.int64,
             'I32': np.int32, 'U8': np.uint8, 'BF16': np.uint16}
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 8:
        raise ConversionError(f'{path}: not a safetensors file (shorter than its header length)')
    n = int.from_bytes(data[:8], 'little')
    if n > len(data) - 8:
        raise ConversionError(f'{path}: truncated (header of {n} bytes, file of {len(data)})')
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as e:
        raise ConversionError(f'{path}: header is not JSON ({e})')
    body = data[8 + n:]
    metadata = header.pop('__metadata__', {}) or {}
    tensors = {}
    for name, info in header.items():
        kind = kinds.get(info.get('dtype'))
        begin, end = info.get('data_offsets', [0, -1])
        if kind is None or not 0 <= begin <= end <= len(body):
            raise ConversionError(f'{path}: tensor {name!r} has an unsupported dtype or lies '
                                  'outside the file')
        arr = np.frombuffer(body[begin:end], dtype=np.dtype(kind).newbyteorder('<'))
        if info['dtype'] == 'BF16':
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        shape = [int(s) for s in info.get('shape', [])]
        if arr.size != int(np.prod(shape)):
            raise ConversionError(f'{path}: tensor {name!r} does not fill its shape {shape}')
        tensors[name] = arr.reshape(shape).astype(arr.dtype.newbyteorder('='))
    return tensors, metadata


# ------------------------------------------------------------------------------------------
# EDM persistence helpers

def add_edm_to_path(edm_dir):
    """Make EDM's dnnlib / torch_utils / training packages importable."""
    edm_dir = os.path.abspath(os.path.expanduser(edm_dir))
    for sub in ('dnnlib', 'torch_utils'):
        if not os.path.isdir(os.path.join(edm_dir, sub)):
            raise ConversionError(f'--edm {edm_dir}: no {sub}/ directory there; '
                                  'pass a checkout of https://github.com/NVlabs/edm')
    if edm_dir not in sys.path:
        sys.path.insert(0, edm_dir)
    return edm_dir


def original_class(obj):
    """The class EDM's @persistent_class decorated (the decorator subclasses it)."""
    cls = type(obj)
    if hasattr(cls, '_orig_class_name') and len(cls.__mro__) > 1:
        base = cls.__mro__[1]
        if base.__name__ == cls._orig_class_name:
            return base
    return cls


def constructor_arguments(obj, what):
    """Arguments the persistent object was constructed with, bound to its signature with
    defaults filled in, as a plain dict (**kwargs catch-alls are merged in)."""
    try:
        args = obj._init_args
        kwargs = obj._init_kwargs
    except AttributeError:
        args = kwargs = None
    if args is None or kwargs is None:
        raise ConversionError(f'{what} ({type(obj).__name__}) does not record its constructor '
                              'arguments (not an EDM persistent_class pickle?)')
    cls = original_class(obj)
    sig = inspect.signature(cls.__init__)
    try:
        bound = sig.bind(None, *copy.deepcopy(args), **copy.deepcopy(dict(kwargs)))
    except TypeError as e:
        raise ConversionError(f'{what}: recorded constructor arguments do not match '
                              f'{cls.__name__}.__init__: {e}')
    bound.apply_defaults()
    out = {}
    for name, param in sig.parameters.items():
        if name == 'self':
            continue
        if param.kind == inspect.Parameter.VAR_KEYWORD:
            out.update(bound.arguments.get(name, {}))
        elif param.kind == inspect.Parameter.VAR_POSITIONAL:
            if bound.arguments.get(name):
                raise ConversionError(f'{what}: unexpected extra positional arguments')
        else:
            out[name] = bound.arguments[name]
    return out


def plain(v):
    """JSON-friendly copy (tuples -> lists, numpy / torch scalars -> Python numbers)."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v) if math.isfinite(v) else str(v)  # JSON has no inf/nan
    if hasattr(v, 'item') and callable(v.item):
        return plain(v.item())
    raise ConversionError(f'constructor argument {v!r} of type {type(v).__name__} is not representable')


def _int(v, name, model='SongUNet'):
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConversionError(f'{model} {name}={v!r} is not an integer')
    return v


def _check_songunet_options(cfg_net):
    """The settings only SongUNet has: the DDPM++ / NCSN++ variants."""
    if cfg_net['encoder_type'] not in ('standard', 'skip', 'residual'):
        raise ConversionError(f"SongUNet encoder_type '{cfg_net['encoder_type']}' is not supported "
                              "(standard, skip or residual)")
    if cfg_net['decoder_type'] not in ('standard', 'skip'):
        raise ConversionError(f"SongUNet decoder_type '{cfg_net['decoder_type']}' is not supported "
                              "(standard or skip)")
    rf = cfg_net['resample_filter']
    if (not isinstance(rf, list) or not 2 <= len(rf) <= 8 or len(rf) % 2
            or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in rf)
            or sum(rf) == 0):
        raise ConversionError(f'SongUNet resample_filter {rf!r} is not supported (an even number, '
                              '2 to 8, of numbers with a nonzero sum, e.g. [1,1] or [1,3,3,1])')
    if cfg_net['embedding_type'] not in ('positional', 'fourier'):
        raise ConversionError(f"SongUNet embedding_type '{cfg_net['embedding_type']}' is not supported")
    _int(cfg_net['channel_mult_noise'], 'channel_mult_noise')


def network_config(net, data_spec='', source=''):
    """Build the onestep model config (dict) from an EDM EDMPrecond, refusing what onestep
    does not support. Raises ConversionError with a one-line reason."""
    precond = type(net).__name__
    if precond != SUPPORTED_PRECOND:
        if precond in ('VPPrecond', 'VEPrecond'):
            kind = 'VP' if precond == 'VPPrecond' else 'VE'
            raise ConversionError(
                f'network uses {kind} preconditioning ({precond}); onestep supports only EDM '
                f'preconditioning ({SUPPORTED_PRECOND}), e.g. the edm-*.pkl networks, not baseline-*.pkl')
        if precond == 'iDDPMPrecond':
            raise ConversionError(f'network uses iDDPM preconditioning (iDDPMPrecond); onestep '
                                  f'supports only EDM preconditioning ({SUPPORTED_PRECOND})')
        raise ConversionError(f'the pickled network is a {precond}, not an {SUPPORTED_PRECOND}; '
                              'onestep supports only EDMPrecond networks')
    pk = constructor_arguments(net, 'EDMPrecond')
    model_type = pk.get('model_type')
    inner = getattr(net, 'model', None)
    inner_name = type(inner).__name__ if inner is not None else None
    if model_type not in SUPPORTED_MODELS or inner_name != model_type:
        raise ConversionError(f"model_type '{model_type or inner_name}' is not supported; onestep "
                              f"supports {' and '.join(SUPPORTED_MODELS)}")
    names, arch = SUPPORTED_MODELS[model_type]
    mk = constructor_arguments(inner, model_type)
    missing = [k for k in names if k not in mk]
    extra = [k for k in mk if k not in names]
    if missing or extra:
        raise ConversionError(f'{model_type} arguments differ from the supported EDM version '
                              f'(missing {missing}, unknown {extra})')
    cfg_net = {'arch': arch}
    for k in names:
        cfg_net[k] = plain(mk[k])
    if model_type == 'SongUNet':
        _check_songunet_options(cfg_net)
    for k in ('img_resolution', 'in_channels', 'out_channels', 'label_dim', 'augment_dim',
              'model_channels', 'channel_mult_emb', 'num_blocks'):
        _int(cfg_net[k], k, model_type)
    for k in ('channel_mult', 'attn_resolutions'):
        if not isinstance(cfg_net[k], list):
            raise ConversionError(f'{model_type} {k}={cfg_net[k]!r} is not a list')
        for x in cfg_net[k]:
            _int(x, k, model_type)
    if not cfg_net['channel_mult']:
        raise ConversionError(f'{model_type} channel_mult is empty')
    for k in ('dropout', 'label_dropout'):
        v = cfg_net[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ConversionError(f'{model_type} {k}={v!r} is not a probability')
    img_channels = _int(plain(pk['img_channels']), 'img_channels')
    res = _int(plain(pk['img_resolution']), 'img_resolution')
    if cfg_net['in_channels'] != img_channels or cfg_net['out_channels'] != img_channels:
        raise ConversionError(f'{model_type} in/out channels differ from EDMPrecond img_channels')
    if res % (1 << (len(cfg_net['channel_mult']) - 1)) != 0:
        raise ConversionError(f'img_resolution {res} is not divisible by 2^(levels-1)')
    sigma_data = plain(pk['sigma_data'])
    if isinstance(sigma_data, bool) or not isinstance(sigma_data, (int, float)) or not sigma_data > 0:
        raise ConversionError(f'EDMPrecond sigma_data={sigma_data!r} is not a positive number')
    return {
        'kind': 'edm-denoiser',
        'sigma_data': float(sigma_data),
        'label_dim': _int(plain(pk['label_dim']), 'label_dim'),
        'network': cfg_net,
        'data': {'spec': data_spec or '', 'shape': [img_channels, res, res]},
        'source': source,
    }


def check_structure(net):
    """Rebuild the network from its recorded arguments and check that the parameter and buffer
    names and shapes are exactly those of the pickled one (guards against edited pickles and
    arguments that do not describe the network)."""
    import torch
    inner = net.model
    cls = type(inner)  # persistent class from the pickle's own source
    mk = constructor_arguments(inner, type(inner).__name__)
    state = torch.random.get_rng_state()
    try:
        fresh = cls(**mk)
    finally:
        torch.random.set_rng_state(state)
    a = {k: tuple(v.shape) for k, v in inner.state_dict().items()}
    b = {k: tuple(v.shape) for k, v in fresh.state_dict().items()}
    if a != b:
        diff = sorted(set(a.items()) ^ set(b.items()))[:3]
        raise ConversionError(f'pickled {type(inner).__name__} does not match its recorded '
                              f'arguments (e.g. {diff})')


def state_dict_arrays(net):
    """EDMPrecond state_dict as (name, float32 numpy array) pairs, EDM's key order."""
    import torch
    out = []
    for name, t in net.state_dict().items():
        if t is None:
            continue
        t = t.detach().cpu()
        if not t.is_floating_point():
            raise ConversionError(f'tensor {name} has non-floating dtype {t.dtype}')
        out.append((name, t.to(torch.float32).contiguous().numpy()))
    return out


def load_pickle(path, key):
    with open(path, 'rb') as f:
        try:
            data = pickle.load(f)
        except ModuleNotFoundError as e:
            raise ConversionError(f'cannot unpickle {path}: {e} (is --edm an NVlabs/edm checkout?)')
    import torch
    if isinstance(data, dict):
        if key not in data:
            raise ConversionError(f"{path}: no '{key}' entry (entries: {', '.join(map(str, data.keys()))})")
        net = data[key]
    else:
        net = data
    if not isinstance(net, torch.nn.Module):
        raise ConversionError(f'{path}: entry is a {type(net).__name__}, not a network')
    return net


def main(argv=None):
    p = argparse.ArgumentParser(
        prog='edm_to_safetensors.py',
        description='Convert an NVlabs/edm network pickle (EDMPrecond around SongUNet or '
                    'DhariwalUNet) into a onestep safetensors checkpoint with the model config in '
                    'its metadata.',
        epilog='Supported: EDMPrecond with model_type SongUNet (DDPM++ and NCSN++: every encoder, '
               'decoder, resample filter and noise embedding of EDM) or DhariwalUNet (ADM), any '
               'label_dim / augment_dim / channel layout; use_fp16 networks are fine (weights are '
               'stored in float32). Refused: VP/VE/iDDPM preconditioning (the baseline-*.pkl '
               'networks).')
    p.add_argument('--edm', required=True, metavar='DIR',
                   help='checkout of https://github.com/NVlabs/edm (for dnnlib and torch_utils)')
    p.add_argument('--pkl', required=True, metavar='PATH', help='EDM network pickle (local file)')
    p.add_argument('--out', required=True, metavar='PATH', help='output .safetensors file')
    p.add_argument('--data', default='', metavar='SPEC',
                   help='dataset spec recorded in the config (e.g. cifar10); default empty')
    p.add_argument('--key', default='ema', metavar='NAME',
                   help="entry of the pickled dict that holds the network (default 'ema')")
    args = p.parse_args(argv)
    prog = 'edm_to_safetensors'
    try:
        add_edm_to_path(args.edm)
        import torch
        if not os.path.isfile(args.pkl):
            raise ConversionError(f'--pkl {args.pkl}: no such file')
        net = load_pickle(args.pkl, args.key)
        source = f'converted from EDM pickle {os.path.basename(args.pkl)} (entry {args.key!r})'
        cfg = network_config(net, args.data, source)
        check_structure(net)
        tensors = state_dict_arrays(net)
        edm_kwargs = plain(constructor_arguments(net, 'EDMPrecond'))
        metadata = {
            'config': json.dumps(cfg, allow_nan=False),
            'generator': ' '.join([os.path.basename(sys.argv[0])] + (argv if argv is not None else sys.argv[1:]))
                         + f' (torch {torch.__version__})',
            'edm_init_kwargs': json.dumps(edm_kwargs, allow_nan=False),
        }
        out_dir = os.path.dirname(os.path.abspath(args.out))
        if not os.path.isdir(out_dir):
            raise ConversionError(f'--out {args.out}: directory {out_dir} does not exist')
        write_safetensors(args.out, tensors, metadata)
    except ConversionError as e:
        print(f'{prog}: error: {e}', file=sys.stderr)
        return 1
    except Exception as e:  # unexpected: still one line, with the exception type
        msg = str(e).splitlines()[0] if str(e) else ''
        print(f'{prog}: error: {type(e).__name__}: {msg}', file=sys.stderr)
        return 1
    nparam = sum(int(a.size) for _, a in tensors)
    print(f'{args.out}: {len(tensors)} tensors, {nparam} values; config {metadata["config"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
