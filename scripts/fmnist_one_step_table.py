"""The table of scripts/fmnist_one_step.sh (Markdown, to stdout), from its run directory.
  python3 scripts/fmnist_one_step_table.py OUT [--replace-in docs/RESULTS.md]
--replace-in writes the section between the file's fmnist-one-step markers instead (appended at
the end when the file has none)."""
import argparse
import os
import statistics
import sys

from run_records import load_json as load, metrics_with_wall, record_of, training_record

BEGIN, END = "<!-- fmnist-one-step:begin -->", "<!-- fmnist-one-step:end -->"
SEEDS = (1, 2, 3)


def lines_of(path):
    try:
        return [line.strip() for line in open(path) if line.strip()]
    except OSError:
        return []


def minutes(s):
    return f"{s / 60:.1f} min" if s >= 120 else f"{s:.0f} s"


def section(out):
    real = load(os.path.join(out, "real-train", "eval.json"))
    teacher = load(os.path.join(out, "teacher", "eval.json"))
    seeds = [load(os.path.join(out, f"uni-instruct-seed{s}", "eval.json")) for s in SEEDS]
    if real is None or teacher is None or any(m is None for m in seeds):
        raise SystemExit(f"{out}: the real, teacher and 3 seeds' eval.json are not all there yet")
    teacher_path = (lines_of(os.path.join(out, "teacher.path")) or [""])[0]
    t_wall, t_images = training_record(os.path.dirname(os.path.realpath(teacher_path)))
    rows = metrics_with_wall(os.path.join(out, "uni-instruct"))
    s_wall, s_images = record_of(rows)
    evals = [(r["images"], r["wall"], r["eval_fid"]) for r in rows if "eval_fid" in r]
    # Each file: the command line, then (command.txt) how the run was made, then "commit X".
    command, *history = lines_of(os.path.join(out, "uni-instruct.command.txt")) or [None]
    invocation, *rest = lines_of(os.path.join(out, "invocation.txt")) or [None]
    commit = next((line.split()[-1] for line in rest if line.startswith("commit")), "unknown")
    sample_s, sample_threads = open(os.path.join(out, "teacher", "sample.seconds")).read().split()[:2]
    lines = [BEGIN, "## Fashion-MNIST: one step against 35", ""]
    lines.append(f"Made by `{invocation}` (commit {commit}) on the 2-core development machine, CPU backend.")
    lines.append(f"The distillation: `{command}`.")
    lines.extend(line for line in history if not line.startswith("commit"))
    lines.append(f"{teacher['n']:,} samples per row against the 10,000 test images, scored like the table")
    lines.append("above (committed feature network; KID ± its standard error; precision/recall with k = 3).")
    lines.append("The one-step row gives the mean over sampling seeds 1, 2 and 3 and, in brackets, their")
    lines.append("range; the teacher is sampled with seed 1.")
    lines.append("")
    lines.append("| run | NFE | FID | KID ×10³ | precision | recall | training | images seen |")
    lines.append("|---|---|---|---|---|---|---|---|")
    lines.append(f"| training images ({real['n']:,} real) | – | {real['fid']:.3f} | "
                 f"{1e3 * real['kid']:.2f} ± {1e3 * real['kid_se']:.2f} | {real['precision']:.3f} | "
                 f"{real['recall']:.3f} | – | – |")
    lines.append(f"| teacher (Heun, 18 steps) | 35 | {teacher['fid']:.3f} | "
                 f"{1e3 * teacher['kid']:.2f} ± {1e3 * teacher['kid_se']:.2f} | {teacher['precision']:.3f} | "
                 f"{teacher['recall']:.3f} | {minutes(t_wall) if t_wall else '–'} | "
                 f"{f'{t_images:,}' if t_images else '–'} |")

    def spread(key, scale=1.0, digits=3):
        v = [scale * m[key] for m in seeds]
        return f"{statistics.mean(v):.{digits}f} [{min(v):.{digits}f}, {max(v):.{digits}f}]"

    kid_se = max(1e3 * m["kid_se"] for m in seeds)
    lines.append(f"| uni-instruct (JS), 1 step | 1 | {spread('fid')} | {spread('kid', 1e3, 2)} ± {kid_se:.2f} | "
                 f"{spread('precision')} | {spread('recall')} | {minutes(s_wall)} | {s_images:,} |")
    lines.append("")
    worst = max(m["fid"] for m in seeds)
    if worst <= teacher["fid"]:
        lines.append(f"Every sampling seed of the one-step generator scores an FID at or below the teacher's "
                     f"({worst:.3f} at worst against {teacher['fid']:.3f}), with one network evaluation "
                     "instead of 35.")
    else:
        best = min(m["fid"] for m in seeds)
        lines.append(f"The one-step generator does **not** reach the teacher: FID {best:.3f}–{worst:.3f} "
                     f"against {teacher['fid']:.3f}.")
    lines.append(f"Sampling the teacher's {teacher['n']:,} images took {minutes(float(sample_s))} on "
                 f"{sample_threads} thread{'s' if sample_threads != '1' else ''}. The training "
                 "column is wall time including the learning curve's scoring, summed over resumed segments.")
    t1000 = load(os.path.join(out, "teacher-1000", "eval.json"))
    if evals and t1000:
        crossed = next(((i, w) for i, w, f in evals if f <= t1000["fid"]), None)
        lines.append("")
        lines.append(f"Learning curve (`--eval-every`, FID of 1,000 samples of the EMA generator; the "
                     f"teacher's first 1,000 samples score {t1000['fid']:.3f} the same way):")
        lines.append("")
        lines.append("| images | " + " | ".join(f"{i:,}" for i, _, _ in evals) + " |")
        lines.append("|---|" + "---|" * len(evals))
        lines.append("| wall time | " + " | ".join(minutes(w) for _, w, _ in evals) + " |")
        lines.append("| FID@1000 | " + " | ".join(f"{f:.3f}" for _, _, f in evals) + " |")
        lines.append("")
        if crossed:
            lines.append(f"The curve first reaches the teacher's FID@1000 after {crossed[0]:,} images "
                         f"({minutes(crossed[1])}).")
        else:
            lines.append("The curve has not reached the teacher's FID@1000.")
    lines.append("")
    lines.append("![teacher and one-step samples](figures/fmnist-one-step/grids.png)")
    lines.append("![learning curve](figures/fmnist-one-step/curve.png)")
    lines.append(END)
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--replace-in")
    args = parser.parse_args()
    text = section(args.out)
    if not args.replace_in:
        sys.stdout.write(text)
        return
    doc = open(args.replace_in).read()
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + text.rstrip("\n") + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    with open(args.replace_in + ".tmp", "w") as f:
        f.write(doc)
    os.replace(args.replace_in + ".tmp", args.replace_in)


if __name__ == "__main__":
    main()
