"""Writes the 2-D study's table (Markdown) from the run directories of scripts/study-2d.sh."""
import json
import os
import sys

out, images = sys.argv[1], int(sys.argv[2])


def seconds(path):
    try:
        return float(open(path).read().split()[-1])
    except (OSError, ValueError, IndexError):
        return float("nan")


print("# 2-D distillation study\n")
print("Made by `scripts/study-2d.sh` on the 2-core development machine (CPU, 2 threads). Each")
print(f"teacher: `onestep teacher --preset toy` (MLP 64 wide, 2M images). Each distillation:")
print(f"`onestep distill --preset toy` with {images:,} generator images (batch 512, lr 1e-4, Adam")
print("beta1 = 0), then 4000 samples with one network evaluation. Modes: VEEGAN's protocol (a")
print("sample is high-quality within 3 std = 0.15 of a mode; a mode is covered with >= 10")
print("high-quality samples per 2500). SWD: sliced Wasserstein-1 distance (256 projections) to")
print("4000 fresh data points; the noise floor is the same distance between two data samples.\n")
for data in ("25gaussians", "8gaussians"):
    base = os.path.join(out, data)
    print(f"## toy:{data}\n")
    print("| run | NFE | modes covered | high-quality | SWD | SWD / floor | train time |")
    print("|---|---|---|---|---|---|---|")
    rows = ["teacher"] + sorted(d for d in os.listdir(base)
                                if os.path.isdir(os.path.join(base, d)) and d != "teacher")
    for run in rows:
        try:
            m = json.load(open(os.path.join(base, run, "samples", "metrics.json")))
        except OSError:
            continue
        name = "teacher (Heun, 18 steps)" if run == "teacher" else run
        t = seconds(os.path.join(base, run + ".seconds"))
        print(f"| {name} | {m['nfe']} | {m['modes_covered']}/{m['modes']} | "
              f"{100 * m['high_quality']:.1f}% | {m['sliced_wasserstein']:.4f} | "
              f"{m['sliced_wasserstein'] / m['noise_floor']:.2f} | {t:.0f} s |")
    print()
    print(f"Scatter plots: `docs/figures/2d/{data}-<run>.png`.\n")
