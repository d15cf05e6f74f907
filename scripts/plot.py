"""Plots for onestep runs (Debian's python3-matplotlib).

  python3 scripts/plot.py curves RUN_DIR [RUN_DIR ...] --out curves.png
      loss curves from each run's metrics.jsonl (teacher: loss; distillation: fake, discriminator
      and generator losses), against images seen
  python3 scripts/plot.py scatter DIR --out sheet.png
      every */samples/samples.npy of 2-D points under DIR on one sheet, titled by run
"""
import argparse
import glob
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def curves(runs, out):
    keys = ["loss", "fake_loss", "discriminator_loss", "generator_loss", "gan_loss"]
    present = []
    data = {}
    for run in runs:
        rows = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
        data[run] = rows
        for k in keys:
            if any(r.get(k) is not None for r in rows) and k not in present:
                present.append(k)
    fig, axes = plt.subplots(1, len(present), figsize=(4 * len(present), 3.2), squeeze=False)
    for ax, key in zip(axes[0], present):
        for run, rows in data.items():
            xs = [r["images"] for r in rows if r.get(key) is not None]
            ys = [r[key] for r in rows if r.get(key) is not None]
            if xs:
                ax.plot(xs, ys, label=os.path.basename(os.path.normpath(run)))
        ax.set_title(key)
        ax.set_xlabel("images")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def scatter(root, out):
    files = sorted(glob.glob(os.path.join(root, "*", "samples", "samples.npy")))
    if not files:
        raise SystemExit(f"no */samples/samples.npy under {root}")
    cols = min(4, len(files))
    rows = math.ceil(len(files) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, path in zip(axes.flat, files):
        x = np.load(path)
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.5)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
        ax.set_title(os.path.basename(os.path.dirname(os.path.dirname(path))), fontsize=9)
        ax.axis("on")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["curves", "scatter"])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.kind == "curves":
        curves(args.paths, args.out)
    else:
        scatter(args.paths[0], args.out)


if __name__ == "__main__":
    main()
