#!/usr/bin/env python3
"""A toy two-phase model for a taskfleet program (standard library only).

Registered on a worker as the program `train` (see programs.yaml); tasks
name it with `kind: train` and carry data only. Phase one (or a one-phase
run) fits y = a + b*x by least squares over the def's "x" and "y"; phase two
(a task claimed from part_done, Qlib's DelayTrainerRM) reads phase one's fit
from task.res and scores it. Progress goes to stderr: it is the task's log.

Def keys: x, y (numbers, equal length >= 2), name (a label), fail (exit 3).
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import taskfleet_task  # noqa: E402


def log(msg):
    print(f"train.py: {msg}", file=sys.stderr, flush=True)


def fit(xs, ys):
    n = len(xs)
    if n != len(ys) or n < 2:
        raise ValueError(f"need x and y of equal length >= 2, got {len(xs)} and {len(ys)}")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    if sxx == 0:
        raise ValueError("x is constant")
    slope = sxy / sxx
    return {"slope": slope, "intercept": my - slope * mx, "n": n}


def score(model, xs, ys):
    pred = [model["intercept"] + model["slope"] * x for x in xs]
    my = sum(ys) / len(ys)
    ss_res = sum((y - p) ** 2 for y, p in zip(ys, pred))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return 1.0 - ss_res / ss_tot if ss_tot else 1.0


def main():
    task = taskfleet_task.load()
    d = task.def_ or {}
    log(f"task {task.id} ({d.get('name', '?')}): attempt {task.attempt}, phase {task.phase}")
    if d.get("fail"):
        log("failing on purpose (def has fail: true)")
        return 3
    xs = [float(v) for v in d.get("x", [])]
    ys = [float(v) for v in d.get("y", [])]
    if task.phase == "part_done":  # phase two: finish from phase one's result
        model = task.res["model"]
        r2 = score(model, xs, ys)
        log(f"scored r2={r2:.4f}")
        taskfleet_task.done({"name": d.get("name"), "model": model, "r2": r2})
        return 0
    try:
        model = fit(xs, ys)
    except ValueError as e:
        log(f"bad def: {e}")
        return 2
    if task.artifact_dir:  # collected by a later version of the worker
        with open(os.path.join(task.artifact_dir, "model.json"), "w") as f:
            json.dump(model, f)
    log(f"fit slope={model['slope']:.4f} intercept={model['intercept']:.4f}")
    taskfleet_task.done({"name": d.get("name"), "model": model})
    return 0


if __name__ == "__main__":
    sys.exit(main())
