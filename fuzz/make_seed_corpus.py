#!/usr/bin/env python3
"""Writes the small seed corpus of every fuzz target into fuzz/corpus/<target>/.

Usage: fuzz/make_seed_corpus.py ONESTEP_BINARY

Valid files of every kind the parsers accept, plus a few near misses named bad_* (the regression
test requires every other seed to parse), built with the standard library alone; the checkpoint and config seeds come from a tiny run of the onestep binary. The
corpus is committed; rerun this only to change it. libFuzzer mutates from these seeds, so each is
kept small (at most a few KiB).
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
SEP = b"--onestep-fuzz-next-file--"  # fuzz_targets.h: kFileSeparator


def put(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# ------------------------------------------------------------------------------- safetensors
def safetensors(tensors, metadata=None, checksum=False):
    """tensors: [(name, dtype, shape, raw bytes)] in data order."""
    header, offset, data = {}, 0, b""
    meta = dict(metadata or {})
    if checksum:  # nn/src/safetensors_checksum.h
        crc = 0
        for k in sorted(meta):
            crc = zlib.crc32(k.encode() + b"\0" + meta[k].encode() + b"\0", crc)
        for name, dtype, shape, raw in tensors:
            crc = zlib.crc32(name.encode() + b"\0" + dtype.encode() + b"\0", crc)
            crc = zlib.crc32(",".join(str(s) for s in shape).encode() + b"\0", crc)
        for *_, raw in tensors:
            crc = zlib.crc32(raw, crc)
        meta["onestep.crc32"] = "%08x" % crc
    if meta:
        header["__metadata__"] = dict(sorted(meta.items()))
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def seed_safetensors():
    put("safetensors", "empty", safetensors([]))
    put("safetensors", "f32_i64_metadata", safetensors(
        [("w", "F32", [2, 3], f32(0, 1, 2, 3, 4, 5)), ("n", "I64", [2], struct.pack("<2q", -1, 7))],
        {"framework": "pt", "config": '{"a": 1}'}))
    put("safetensors", "f64_bf16_f16_scalar", safetensors(
        [("d", "F64", [], struct.pack("<d", 2.5)), ("b", "BF16", [2], b"\x80\x3f\x00\xc0"),
         ("h", "F16", [1, 2], b"\x00\x3c\x00\x7c"), ("z", "F32", [0, 4], b"")]))
    put("safetensors", "checksummed", safetensors(
        [("x", "F32", [3], f32(1, -2, 3)), ("y", "I64", [1], struct.pack("<q", 5))],
        {"kind": "test"}, checksum=True))
    put("safetensors", "bad_unsupported_dtype", safetensors([("u", "U8", [2], b"\x01\x02")]))


# ---------------------------------------------------------------------------- Fashion-MNIST
def idx_images(n, rows=28, cols=28):
    pixels = bytes((i * 7 + j) % 256 for i in range(n) for j in range(rows * cols))
    return struct.pack(">4I", 2051, n, rows, cols) + pixels


def idx_labels(n):
    return struct.pack(">2I", 2049, n) + bytes(i % 10 for i in range(n))


def gzip_bytes(raw):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return c.compress(raw) + c.flush()


def seed_fashion_mnist():
    put("fashion_mnist", "gz_pair_2", gzip_bytes(idx_images(2)) + SEP + gzip_bytes(idx_labels(2)))
    put("fashion_mnist", "plain_pair_1", idx_images(1) + SEP + idx_labels(1))
    put("fashion_mnist", "gz_two_members",
        gzip_bytes(idx_images(3)[:100]) + gzip_bytes(idx_images(3)[100:]) + SEP +
        gzip_bytes(idx_labels(3)))
    put("fashion_mnist", "bad_count_mismatch", gzip_bytes(idx_images(2)) + SEP + gzip_bytes(idx_labels(3)))


# -------------------------------------------------------------------------------- CIFAR-10
def seed_cifar10():
    record = lambda label: bytes([label]) + bytes((label * 31 + j) % 256 for j in range(3072))
    put("cifar10", "one_record", record(3))
    put("cifar10", "two_records", record(0) + record(9))


# ------------------------------------------------------------------------------------- PNG
def png(width, height, color_type, bit_depth, rows, palette=None, interlace=0):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">2I5B", width, height, bit_depth, color_type, 0, 0, interlace)
    raw = b"".join(b"\0" + r for r in rows)  # filter type 0 on every row
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette:
        out += chunk(b"PLTE", palette)
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def seed_png_folder():
    gray = png(4, 3, 0, 8, [bytes([10 * r + c for c in range(4)]) for r in range(3)])
    rgb = png(4, 3, 2, 8, [bytes((r * 40 + c) % 256 for c in range(12)) for r in range(3)])
    rgba = png(4, 3, 6, 8, [bytes((r * 50 + c) % 256 for c in range(16)) for r in range(3)])
    palette = png(4, 3, 3, 1, [b"\xa0"] * 3, palette=b"\x00\x00\x00\xff\x80\x00")
    gray16 = png(2, 2, 0, 16, [b"\x12\x34\xff\xff", b"\x00\x00\x80\x00"])
    put("png_folder", "gray", gray)
    put("png_folder", "gray_rgb_rgba", gray + SEP + rgb + SEP + rgba)
    put("png_folder", "palette_1bit", palette)
    put("png_folder", "gray16_pair", gray16 + SEP + gray16)
    put("png_folder", "bad_size_mismatch", gray + SEP + gray16)


# ------------------------------------------------------------------------------------- npy
def npy(descr, shape, data, version=1):
    shape_text = "(%s)" % ("".join("%d," % s for s in shape) if len(shape) == 1
                           else ", ".join(str(s) for s in shape))
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_text)
    prefix = 10 if version == 1 else 12
    total = (prefix + len(header) + 1 + 63) // 64 * 64
    header = header.ljust(total - prefix - 1) + "\n"
    length = struct.pack("<H" if version == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + length + header.encode() + data


def seed_npy():
    put("npy", "f4_points", npy("<f4", [3, 2], f32(0, 1, 2, 3, 4, 5)))
    put("npy", "u1_images", npy("|u1", [2, 4, 4, 1], bytes(range(32))))
    put("npy", "i8_labels_v2", npy("<i8", [2], struct.pack("<2q", 3, 4), version=2))
    put("npy", "f8_scalar", npy("<f8", [], struct.pack("<d", 1.5)))
    put("npy", "bad_u2_no_tensor_type", npy("<u2", [2], b"\x01\x00\x02\x00"))


# ------------------------------------------------------------- checkpoint and config JSON
def seed_from_onestep(onestep):
    with tempfile.TemporaryDirectory() as work:
        run = os.path.join(work, "run")
        env = dict(os.environ, ONESTEP_THREADS="1")
        subprocess.run([onestep, "teacher", "--preset", "toy", "--hidden", "4", "--blocks", "1",
                        "--images", "1024", "--batch", "512", "--preview", "0", "--out", run],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        with open(os.path.join(run, "teacher.safetensors"), "rb") as f:
            teacher = f.read()
        put("checkpoint", "toy_mlp_teacher", teacher)
        with open(os.path.join(run, "config.json"), "rb") as f:
            put("config_json", "teacher_config", f.read())
        header = json.loads(teacher[8:8 + struct.unpack("<Q", teacher[:8])[0]])
        put("config_json", "model_config", header["__metadata__"]["config"].encode())
        distill_run = os.path.join(work, "distill")
        subprocess.run([onestep, "distill", "--preset", "toy", "--teacher",
                        os.path.join(run, "teacher.safetensors"), "--method", "sid",
                        "--images", "64", "--batch", "32", "--preview", "0", "--out", distill_run],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        with open(os.path.join(distill_run, "config.json"), "rb") as f:
            put("config_json", "distill_config", f.read())
    unet = {"kind": "edm-denoiser", "sigma_data": 0.5, "label_dim": 0,
            "network": {"arch": "songunet", "img_resolution": 8, "in_channels": 1,
                        "out_channels": 1, "model_channels": 8, "channel_mult": [1, 2],
                        "num_blocks": 1, "attn_resolutions": [4]},
            "data": {"spec": "png:x", "shape": [1, 8, 8]}}
    put("config_json", "model_config_songunet", json.dumps(unet).encode())


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    seed_safetensors()
    seed_fashion_mnist()
    seed_cifar10()
    seed_png_folder()
    seed_npy()
    seed_from_onestep(os.path.abspath(sys.argv[1]))


if __name__ == "__main__":
    main()
