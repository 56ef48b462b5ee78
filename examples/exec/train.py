#!/usr/bin/env python3
"""A toy model for taskfleet's exec task kind (standard library only).

The task document arrives as JSON on stdin. This script fits y = a + b*x by
least squares over the def's "x" and "y" lists and prints the fit as one JSON
object on stdout. Progress goes to stderr, which the worker logs line by line.

Def keys read here (besides "command", which the worker uses):
  x, y          lists of numbers of the same length (at least 2)
  name          optional label echoed in the result
  result_file   when true, write the result to $TASKFLEET_RESULT_FILE instead
  fail          when true, exit with status 3 after logging an error
"""
import json
import os
import sys


def log(msg):
    print(f"train.py: {msg}", file=sys.stderr, flush=True)


def fit(xs, ys):
    n = len(xs)
    if n != len(ys) or n < 2:
        raise ValueError(f"need x and y of equal length >= 2, got {len(xs)} and {len(ys)}")
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0:
        raise ValueError("x is constant")
    slope = sxy / sxx
    intercept = my - slope * mx
    r2 = (sxy * sxy) / (sxx * syy) if syy else 1.0
    return {"slope": slope, "intercept": intercept, "r2": r2, "n": n}


def main():
    task = json.load(sys.stdin)
    log(f"task {task.get('name', '?')}: {len(task.get('x', []))} points")
    if task.get("fail"):
        log("failing on purpose (def has fail: true)")
        return 3
    try:
        result = fit([float(v) for v in task["x"]], [float(v) for v in task["y"]])
    except (KeyError, ValueError) as e:
        log(f"bad def: {e}")
        return 2
    result["name"] = task.get("name")
    # The same document is also in a file, for programs that prefer a path.
    task_file = os.environ.get("TASKFLEET_TASK_FILE")
    if task_file:
        with open(task_file) as f:
            result["task_file_matches"] = json.load(f) == task
    log(f"fit slope={result['slope']:.4f} intercept={result['intercept']:.4f}")
    out = json.dumps(result)
    result_file = os.environ.get("TASKFLEET_RESULT_FILE")
    if task.get("result_file") and result_file:
        with open(result_file, "w") as f:
            f.write(out)
        print("result written to TASKFLEET_RESULT_FILE")  # stdout is ignored then
    else:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
