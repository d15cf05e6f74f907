"""Plots for onestep runs (Debian's python3-matplotlib).

  python3 scripts/plot.py curves RUN_DIR [RUN_DIR ...] --out curves.png
      loss curves from each run's metrics.jsonl (teacher: loss; distillation: fake, discriminator
      and generator losses), against images seen
  python3 scripts/plot.py learning RUN_DIR [RUN_DIR ...] --out learning.png [--teacher VALUE]
      the learning curves of `onestep distill --eval-every`: FID (images) or sliced Wasserstein
      distance and high-quality fraction (2-D data) of the EMA generator against images and
      against wall time (summed over resumed segments); --teacher draws the teacher's value
  python3 scripts/plot.py scatter DIR --out sheet.png
      every */samples/samples.npy of 2-D points under DIR on one sheet, titled by run
  python3 scripts/plot.py grids A.png B.png [...] --out side_by_side.png [--titles TA TB ...]
      sample grids (e.g. `onestep sample`'s samples.png) side by side
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
from run_records import metrics_with_wall  # noqa: E402


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


def eval_rows(run):
    """The --eval-every rows of a run, each with "wall" = seconds since the run began."""
    return [r for r in metrics_with_wall(run) if any(k.startswith("eval_") and k != "eval_s" for k in r)]


def learning(runs, out, teacher=None):
    data = {run: eval_rows(run) for run in runs}
    if not any(data.values()):
        raise SystemExit("no eval_* rows in these runs' metrics.jsonl (distil with --eval-every)")
    images = any("eval_fid" in r for rows in data.values() for r in rows)
    keys = ["eval_fid"] if images else ["eval_swd", "eval_high_quality"]
    titles = {"eval_fid": "FID", "eval_swd": "sliced Wasserstein distance",
              "eval_high_quality": "high-quality fraction"}
    fig, axes = plt.subplots(len(keys), 2, figsize=(9, 3.2 * len(keys)), squeeze=False)
    for row, key in enumerate(keys):
        for col, (x, label) in enumerate([("images", "generator images"), ("wall", "wall time (s)")]):
            ax = axes[row][col]
            for run, rows in data.items():
                pts = [(r[x], r[key]) for r in rows if r.get(key) is not None]
                if pts:
                    ax.plot(*zip(*pts), marker=".", label=os.path.basename(os.path.normpath(run)))
            if teacher is not None and key != "eval_high_quality":
                ax.axhline(teacher, color="k", linestyle="--", linewidth=1, label="teacher")
            if key in ("eval_fid", "eval_swd"):
                ax.set_yscale("log")
            ax.set_title(titles[key])
            ax.set_xlabel(label)
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


def grids(pngs, out, titles=None):
    """Sample grids (PNG files) side by side, each under its title."""
    titles = titles or [os.path.basename(os.path.dirname(p)) for p in pngs]
    if len(titles) != len(pngs):
        raise SystemExit(f"grids: {len(pngs)} images but {len(titles)} titles")
    fig, axes = plt.subplots(1, len(pngs), figsize=(4 * len(pngs), 4.3), squeeze=False)
    for ax, path, title in zip(axes[0], pngs, titles):
        ax.imshow(plt.imread(path), cmap="gray", interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["curves", "learning", "scatter", "grids"])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--teacher", type=float, help="learning: the teacher's FID or SWD, drawn as a line")
    parser.add_argument("--titles", nargs="+", help="grids: one title per image")
    args = parser.parse_args()
    if args.kind == "curves":
        curves(args.paths, args.out)
    elif args.kind == "learning":
        learning(args.paths, args.out, args.teacher)
    elif args.kind == "grids":
        grids(args.paths, args.out, args.titles)
    else:
        scatter(args.paths[0], args.out)


if __name__ == "__main__":
    main()
