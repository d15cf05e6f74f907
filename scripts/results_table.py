"""Writes docs/RESULTS.md (Markdown, to stdout) from the run directories of scripts/results.sh."""
import argparse
import os

from fmnist_one_step_table import BEGIN, END
from run_records import load_json, training_record

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--fmnist-images", type=int, required=True)
parser.add_argument("--samples", type=int, required=True)
parser.add_argument("--preset", required=True)
parser.add_argument("--keep-from", help="the current RESULTS.md: its section made by "
                    "scripts/fmnist_one_step.sh (between the fmnist-one-step markers) is kept")
args = parser.parse_args()
FMNIST = "fashion-mnist"


def seconds(path):
    try:
        return float(open(path).read().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def fmt_time(s):
    if s is None:
        return "–"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def fmt_images(n):
    return "–" if n is None else f"{n:,}"


def failure(base, run):
    """The error line of a run that stopped without a generator, or None."""
    try:
        lines = open(os.path.join(base, run + ".log")).read().splitlines()
    except OSError:
        return None
    errors = [l for l in lines if l.startswith("onestep: error:")]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    return errors[-1][len("onestep: error: "):].replace(root, "") if errors else None


def failed_runs(base):
    return sorted(f[:-4] for f in os.listdir(base) if f.endswith(".log") and f != "teacher.log"
                  and not os.path.exists(os.path.join(base, f[:-4], "generator.safetensors"))
                  and failure(base, f[:-4]))


def print_failures(base):
    """Closes a table with a row per failed run, then each run's error line below the table."""
    failed = [(run, failure(base, run)) for run in failed_runs(base)]
    for run, _ in failed:
        print(f"| {run} | 1 | failed | | | | | |")
    print()
    for run, error in failed:
        print(f"**{run} failed**: {error}\n")


def threads_note(base, runs):
    """How the runs were trained, from the "THREADS JOBS" files results.sh leaves beside them."""
    setups = set()
    for run in runs:
        try:
            threads, jobs = (int(v) for v in open(os.path.join(base, run + ".threads")).read().split())
            setups.add((threads, jobs))
        except (OSError, ValueError):
            setups.add(None)
    if len(setups) != 1 or None in setups:
        return "Each run trained alone on every core."
    threads, jobs = setups.pop()
    per_run = f"{threads} thread{'s' if threads > 1 else ''}"
    return (f"Each run trained on {per_run}, " +
            ("alone." if jobs == 1 else f"{jobs} runs at a time (`results.sh --jobs {jobs}`)."))


def provenance(base, runs):
    """Which invocation of results.sh made the section, and the commits its runs were trained at
    (each run's command.txt, written by results.sh)."""
    invocation = os.path.join(base, "invocation.txt")
    lines = open(invocation).read().splitlines() if os.path.isfile(invocation) else []
    text = (f"Made by `{lines[0]}` ({lines[1]} when last run)." if len(lines) >= 2
            else "The invocation of results.sh that made these runs was not recorded.")
    commits = {}
    for run in runs:
        path = os.path.join(base, run, "command.txt")
        if os.path.isfile(path):
            for line in open(path).read().splitlines():
                if line.startswith("commit "):
                    commits.setdefault(line[len("commit "):], []).append(run)
    if commits:
        parts = [f"`{c}` ({len(r)} run{'s' if len(r) > 1 else ''})" for c, r in sorted(commits.items())]
        text += (" Each run's exact command is in its run directory's `command.txt`; the runs were"
                 f" trained at commit {', '.join(parts)}.")
    return text


def run_settings(c):
    """What a run's config.json says about the settings that differ between methods."""
    parts = [f"Adam lr {c.get('lr_generator', float('nan')):g}"]
    if c.get("gan_weight", -1) >= 0:
        parts.append(f"GAN weight {c['gan_weight']:g}")
    if c.get("regression", -1) >= 0:
        parts.append(f"regression weight {c['regression']:g}")
    if c.get("discriminator_head") == "learned":
        lr = c.get("lr_discriminator_head") or c.get("lr_fake", float("nan"))
        parts.append(f"the learned discriminator head at lr {lr:g}")
    return ", ".join(parts)


def settings_text(base, runs, preset):
    """How the runs were made, from their own config.json (the presets may have changed since):
    the uni-instruct rows with the preset's recipe for it, the other methods with the preset's
    general settings and their own defaults. A row named with a suffix (-no-gan) adds a flag."""
    configs = [c for c in (load_json(os.path.join(base, r, "config.json")) for r in runs) if c]
    if not configs:
        return f"Each distillation: `onestep distill --preset {preset}`."
    images = max(c.get("total_images", 0) for c in configs)
    text = (f"Each distillation: `onestep distill --preset {preset} --method M --images {images}`,"
            f" with `--divergence D` for the rows named M-D (generator images; batch "
            f"{configs[0].get('batch', '?')}, beta1 = 0).")
    groups = {}
    for c in configs:  # the divergence is in the row's name
        group = "uni-instruct" if c.get("method") == "uni-instruct" else "other"
        groups.setdefault(group, []).append(run_settings(c))
    no_gan = any(r.endswith("-no-gan") for r in runs)
    for group, label in (("uni-instruct", "The uni-instruct rows"), ("other", "The other rows")):
        if group in groups:
            common = max(set(groups[group]), key=groups[group].count)
            text += f" {label}: {common}"
            text += (" (the preset's recipe for uni-instruct" +
                     ("; -no-gan rows add `--gan-weight 0`)." if no_gan else ").")
                     if group == "uni-instruct" else
                     ", their method's defaults otherwise (DISTILL.md).")
    return text


def runs_in(base):
    names = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d))
                   and d not in ("teacher", "real-train"))
    return ["teacher"] + names


def verdict(rows, key, teacher_value, lower_is_better=True, label="FID"):
    """One plain sentence per run class: which one-step runs beat the teacher and which trail it."""
    scored = [(n, m[key]) for n, m in rows if m and key in m]
    if teacher_value is None or not scored:
        return ""
    better = [(n, v) for n, v in scored if (v < teacher_value) == lower_is_better]
    best = min(scored, key=lambda t: t[1] if lower_is_better else -t[1])
    text = (f"Best one-step run: **{best[0]}** with {label} {best[1]:.4g} against the teacher's "
            f"{teacher_value:.4g} at 35 network evaluations. ")
    if better:
        text += (f"{len(better)} of {len(scored)} one-step runs beat the teacher on {label}: "
                 + ", ".join(n for n, _ in better) + ". ")
    else:
        text += f"All {len(scored)} one-step runs trail the teacher on {label}. "
    return text


print("# Results\n")
print("Made by `scripts/results.sh` (fixed seeds: training seed 0, sampling seed 1) on the 2-core")
print("development machine, CPU backend. Every number below comes from the run")
print("directories the script leaves under `runs/results/`; rerunning the script reproduces them up")
print("to thread-scheduling noise in the wall times. Wall times are training times on a shared,")
print("noisy machine: compare them as ratios.", end=" ")
if args.preset == "fmnist-cpu":
    print("These are CPU budgets; `scripts/results.sh --gpu` (preset fmnist, 200k generator")
    print("images, 10k samples) is the GPU variant.\n")
else:
    print("GPU budgets (`--gpu`).\n")

for toy in ("25gaussians", "8gaussians"):
    base = os.path.join(args.out, toy)
    if not os.path.isdir(base):
        continue
    print(f"## toy:{toy}\n")
    print("Teacher: `onestep teacher --preset toy` (MLP 64 wide).")
    print(settings_text(base, runs_in(base)[1:], "toy"))
    print(threads_note(base, runs_in(base)[1:]))
    print(provenance(base, runs_in(base)[1:]))
    print("4000 samples per row. Modes: VEEGAN's protocol (a sample is high-quality within 3 std of a")
    print("mode; a mode is covered with >= 10 high-quality samples per 2500). SWD: sliced Wasserstein-1")
    print("distance (256 projections) to 4000 fresh data points; MMD²: RBF kernel, median bandwidth. The")
    print("data-vs-data floor (two fresh data samples) is given beside each. One seed per run; how")
    print("much the modes covered move with the seed and the budget: [DISTILL.md](DISTILL.md#mode-coverage-on-toy25gaussians).\n")
    print("| run | NFE | modes covered | high-quality | SWD (floor) | MMD² (floor) | train time | images seen |")
    print("|---|---|---|---|---|---|---|---|")
    scored = []
    teacher_hq = None
    for run in runs_in(base):
        m = load_json(os.path.join(base, run, "eval.json"))
        if m is None:
            continue
        nfe = 35 if run == "teacher" else 1
        _, images = training_record(os.path.join(base, run))
        t = seconds(os.path.join(base, run + ".seconds"))
        name = "teacher (Heun, 18 steps)" if run == "teacher" else run
        print(f"| {name} | {nfe} | {m.get('modes_covered', '–')}/{m.get('modes', '–')} | "
              f"{100 * m.get('high_quality', float('nan')):.1f}% (data {100 * m.get('high_quality_data', float('nan')):.1f}%) | "
              f"{m['sliced_wasserstein']:.4f} ({m['sliced_wasserstein_floor']:.4f}) | "
              f"{m['mmd']:.2e} ({m['mmd_floor']:.2e}) | {fmt_time(t)} | {fmt_images(images)} |")
        if run == "teacher":
            teacher_swd, teacher_hq = m["sliced_wasserstein"], m.get("high_quality")
        else:
            scored.append((run, m))
    print_failures(base)
    print(verdict(scored, "sliced_wasserstein", teacher_swd, True, "SWD"))
    if teacher_hq is not None:
        print(verdict(scored, "high_quality", teacher_hq, False, "high-quality fraction"))
    print(f"\n![toy:{toy} one-step samples](figures/results/{toy}.png)\n")

base = os.path.join(args.out, FMNIST)
if os.path.isdir(base):
    print("## Fashion-MNIST\n")
    print(f"Teacher: `onestep teacher --preset {args.preset}`, sampled with Heun, 18 steps (35 network")
    print("evaluations).")
    print(settings_text(base, runs_in(base)[1:], args.preset))
    print(f"{args.samples:,} samples per row, scored by `onestep eval` against")
    print("the 10,000 test images in the feature space of the committed classifier")
    print("(`assets/fmnist-features.safetensors`). FID is biased upwards at small sample sizes, the")
    print("same way for every row; KID is unbiased (± its standard error). Precision/recall: k-NN")
    print("manifolds, k = 3. The first row scores real training images the same way: the floor.")
    print(threads_note(base, runs_in(base)[1:]))
    print(provenance(base, runs_in(base)[1:]) + "\n")
    print("| run | NFE | FID | KID ×10³ | precision | recall | train time | images seen |")
    print("|---|---|---|---|---|---|---|---|")
    scored = []
    teacher_fid = None
    for run in ["real-train"] + runs_in(base):
        m = load_json(os.path.join(base, run, "eval.json"))
        if m is None:
            continue
        if run == "real-train":
            name, nfe, t, images = f"training images ({m['n']:,} real)", "–", None, None
        elif run == "teacher":
            name, nfe = "teacher (Heun, 18 steps)", 35
            t, images = training_record(os.path.join(base, run))
        else:
            name, nfe = run, 1
            _, images = training_record(os.path.join(base, run))
            t = seconds(os.path.join(base, run + ".seconds"))
        print(f"| {name} | {nfe} | {m['fid']:.2f} | {1e3 * m['kid']:.2f} ± {1e3 * m['kid_se']:.2f} | "
              f"{m['precision']:.3f} | {m['recall']:.3f} | {fmt_time(t)} | {fmt_images(images)} |")
        if run == "teacher":
            teacher_fid = m["fid"]
            sample_t = seconds(os.path.join(base, "teacher.seconds"))
        elif run != "real-train":
            scored.append((run, m))
    print_failures(base)
    print(verdict(scored, "fid", teacher_fid, True, "FID"))
    if scored:
        best = min(m["fid"] for _, m in scored)
        collapsed = [n for n, m in scored if m["fid"] > 3 * best]
        if collapsed:
            print(f"Collapsed (FID more than 3x the best one-step run): {', '.join(collapsed)}; "
                  "see the known failures in [DISTILL.md](DISTILL.md).")
    trail = teacher_fid is not None and scored and all(m["fid"] > teacher_fid for _, m in scored)
    if trail and args.keep_from and os.path.exists(args.keep_from) and \
            BEGIN in open(args.keep_from).read():
        print("At this budget every one-step run trails the teacher; the last section, made by")
        print("`scripts/fmnist_one_step.sh`, trains the preset's Uni-Instruct recipe for its full")
        print("budget and compares it with the teacher on 10,000 samples.")
    if teacher_fid is not None and sample_t:
        print(f"Sampling the teacher's {args.samples:,} images took {fmt_time(sample_t)}; a one-step")
        print("generator needs one network evaluation instead of 35.")
    print()
    print("Samples (64 per run, from the run's final preview):\n")
    for run in runs_in(base):
        if os.path.exists(os.path.join(base, run, "samples.png")):
            print(f"- {run}: ![{run}](figures/results/fmnist-{run}.png)")
    if os.path.exists(os.path.join(base, "curves.png")):
        print("\nLoss curves of four runs: ![curves](figures/results/fmnist-curves.png)")
    print()

# The section scripts/fmnist_one_step.sh writes has its own runs; carry it over unchanged.
if args.keep_from and os.path.exists(args.keep_from):
    old = open(args.keep_from).read()
    if BEGIN in old and END in old:
        print(old[old.index(BEGIN):old.index(END) + len(END)])
