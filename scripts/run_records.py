"""What the scripts read from onestep run directories: JSON files and metrics.jsonl, whose wall
clock restarts in every resumed segment."""
import json
import os


def load_json(path):
    """The parsed file, or None when it is missing or not JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def metrics_with_wall(run_dir):
    """metrics.jsonl's rows, each with "wall" = seconds since the run began: the segments of a
    resumed run are summed. [] when the file is missing or unreadable."""
    try:
        lines = [line for line in open(os.path.join(run_dir, "metrics.jsonl")) if line.strip()]
        rows = [json.loads(line) for line in lines]
    except (OSError, ValueError):
        return []
    offset, last = 0.0, 0.0
    for r in rows:
        w = r.get("wall_s")
        if w is not None:
            if w < last:  # a resumed run restarts its clock
                offset += last
            last = w
        r["wall"] = offset + (w if w is not None else last)
    return rows


def record_of(rows):
    """(wall seconds summed over resumed segments, images seen) of metrics_with_wall's rows,
    each None when unknown."""
    if not rows:
        return None, None
    timed = [r for r in rows if r.get("wall_s") is not None]
    return (timed[-1]["wall"] if timed else None), rows[-1].get("images")


def training_record(run_dir):
    """record_of the run's metrics.jsonl."""
    return record_of(metrics_with_wall(run_dir))
