#!/usr/bin/env python3
"""Train one rolling window of a Qlib-style task: a taskfleet worker program.

Registered on a worker (or in a `dispatcher run` config's programs:) as a
task kind; each task's def is a Qlib task dict, as the rolling generator
writes it:

    model:   {class: XGBModel, kwargs: {max_depth: 4, n_estimators: 200, ...}}
             or {class: Ridge, kwargs: {alpha: 10}}
    dataset: {kwargs: {data: {csv: PANEL.csv},
                       segments: {train: [START, END], valid: [START, END],
                                  test: [START, END or null]}}}

The panel is the CSV `dispatcher dataset synth` writes: datetime, instrument,
feature columns, label. The program fits the model on the train segment,
measures the IC on train and valid, predicts the test segment, and writes two
artifacts into TASKFLEET_ARTIFACT_DIR: pred.csv (datetime, instrument, score,
label) and model.json. Its result is small: the model class, row counts and
ICs. Progress goes to stderr, the task's log.

Exit codes: 0 done, 2 a bad def (retrying cannot help), 1 anything else.

Needs pandas and, for XGBModel, xgboost (Debian: python3-pandas,
python3-xgboost). Without a worker it reads the task document on stdin and
prints its result (see python/taskfleet_task.py).
"""
import datetime
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import taskfleet_task  # noqa: E402

MODELS = ("XGBModel", "Ridge")
SEGMENTS_PATH = ("dataset", "kwargs", "segments")
DATA_PATH = ("dataset", "kwargs", "data")


class BadDef(ValueError):
    """The def is malformed: the message names the dotted path."""


def log(msg):
    print(f"train.py: {msg}", file=sys.stderr, flush=True)


def get_path(d, path):
    """The value at path (a tuple of keys) in nested dicts, or None."""
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def parse_segment(seg, name):
    """A segment [start, end] as a pair of ISO date strings; None is open."""
    where = ".".join(SEGMENTS_PATH + (name,))
    if not isinstance(seg, (list, tuple)) or len(seg) != 2:
        raise BadDef(f"{where}: want [start, end], got {seg!r}")
    out = []
    for i, v in enumerate(seg):
        if v is None:
            out.append(None)
            continue
        s = str(v)[:10]
        try:
            datetime.date.fromisoformat(s)
        except ValueError:
            raise BadDef(f"{where}[{i}]: bad date {v!r}") from None
        out.append(s)
    if out[0] and out[1] and out[1] < out[0]:
        raise BadDef(f"{where}: end {out[1]} is before start {out[0]}")
    return tuple(out)


def segments_of(def_):
    """The train, valid (or None) and test segments of a def."""
    segs = get_path(def_, SEGMENTS_PATH)
    if not isinstance(segs, dict):
        raise BadDef(f"{'.'.join(SEGMENTS_PATH)}: missing (want train, valid, test)")
    out = {}
    for name in ("train", "valid", "test"):
        if name not in segs:
            if name == "valid":
                out[name] = None
                continue
            raise BadDef(f"{'.'.join(SEGMENTS_PATH + (name,))}: missing")
        out[name] = parse_segment(segs[name], name)
    return out


def slice_segment(df, seg):
    """The rows of df (a datetime column of datetime64) inside seg, both
    ends inclusive; an open end is unbounded."""
    import pandas as pd
    mask = pd.Series(True, index=df.index)
    if seg[0]:
        mask &= df["datetime"] >= pd.Timestamp(seg[0])
    if seg[1]:
        mask &= df["datetime"] <= pd.Timestamp(seg[1])
    return df[mask]


def daily_ic(df, score="score", label="label", method="pearson"):
    """Qlib's IC: the mean over days of the cross-sectional correlation of
    score and label (method "spearman" gives the Rank IC). Days with fewer
    than two labelled rows or a constant column are left out; NaN when no
    day is left."""
    d = df[["datetime", score, label]].dropna()
    ics = []
    for _, g in d.groupby("datetime"):
        if len(g) < 2 or g[score].nunique() < 2 or g[label].nunique() < 2:
            continue
        ics.append(g[score].corr(g[label], method=method))
    return float(sum(ics) / len(ics)) if ics else float("nan")


def finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def load_panel(def_):
    import pandas as pd
    spec = get_path(def_, DATA_PATH)
    if not isinstance(spec, dict) or not isinstance(spec.get("csv"), str):
        raise BadDef(f"{'.'.join(DATA_PATH)}: want {{csv: PANEL.csv}} (write one with `dispatcher dataset synth`)")
    path = spec["csv"]
    if not os.path.exists(path):
        raise BadDef(f"{'.'.join(DATA_PATH)}.csv: {path}: no such file")
    df = pd.read_csv(path, parse_dates=["datetime"])
    for col in ("datetime", "instrument", "label"):
        if col not in df.columns:
            raise BadDef(f"{path}: no {col} column")
    return df


def features_of(df):
    return [c for c in df.columns if c not in ("datetime", "instrument", "label")]


class RidgeModel:
    """Ridge regression on standardized features (numpy), intercept not
    penalized."""

    def __init__(self, alpha=1.0):
        self.alpha = float(alpha)

    def fit(self, x, y):
        import numpy as np
        self.mean, self.std = x.mean(axis=0), x.std(axis=0)
        self.std[self.std == 0] = 1
        z = (x - self.mean) / self.std
        k = z.shape[1]
        self.coef = np.linalg.solve(z.T @ z + self.alpha * np.eye(k), z.T @ (y - y.mean()))
        self.intercept = float(y.mean())
        return self

    def predict(self, x):
        return ((x - self.mean) / self.std) @ self.coef + self.intercept

    def save(self, path):
        with open(path, "w") as f:
            json.dump({"class": "Ridge", "alpha": self.alpha, "coef": self.coef.tolist(),
                       "intercept": self.intercept, "mean": self.mean.tolist(), "std": self.std.tolist()}, f)


class XGBModel:
    """Gradient-boosted trees through XGBoost's native API (its scikit-learn
    wrapper needs scikit-learn): Qlib's XGBModel kwargs, n_estimators the
    number of boosting rounds."""

    def __init__(self, n_estimators=100, **params):
        self.rounds = int(n_estimators)
        self.params = {"max_depth": 3, "eta": 0.1, "nthread": 1, "seed": 0, "objective": "reg:squarederror"}
        if "learning_rate" in params:
            params["eta"] = params.pop("learning_rate")
        self.params.update(params)

    def fit(self, x, y):
        import xgboost as xgb
        self.booster = xgb.train(self.params, xgb.DMatrix(x, label=y), num_boost_round=self.rounds)
        return self

    def predict(self, x):
        import xgboost as xgb
        return self.booster.predict(xgb.DMatrix(x))

    def save(self, path):
        self.booster.save_model(path)  # XGBoost's own JSON format (by the .json name)


def make_model(def_):
    cls = get_path(def_, ("model", "class"))
    kwargs = get_path(def_, ("model", "kwargs")) or {}
    if cls not in MODELS:
        raise BadDef(f"model.class: {cls!r}: want one of {', '.join(MODELS)}")
    if not isinstance(kwargs, dict):
        raise BadDef(f"model.kwargs: want a map, got {kwargs!r}")
    try:
        return cls, (RidgeModel if cls == "Ridge" else XGBModel)(**kwargs)
    except TypeError as e:
        raise BadDef(f"model.kwargs: {e}") from None


def train(def_, out_dir):
    """Train one window; write pred.csv and model.json into out_dir; return
    the result."""
    segs = segments_of(def_)
    cls, model = make_model(def_)
    df = load_panel(def_)
    feats = features_of(df)
    parts = {name: slice_segment(df, seg) for name, seg in segs.items() if seg is not None}
    fit = parts["train"].dropna(subset=["label"])
    if fit.empty:
        raise BadDef(f"{'.'.join(SEGMENTS_PATH)}.train: {segs['train']}: no labelled rows in the panel")
    if parts["test"].empty:
        raise BadDef(f"{'.'.join(SEGMENTS_PATH)}.test: {segs['test']}: no rows in the panel")
    log(f"{cls}: {len(fit)} train rows, {len(feats)} features, test {segs['test']}")
    model.fit(fit[feats].to_numpy(), fit["label"].to_numpy())
    result = {"model": cls, "rows": {}, "features": len(feats)}
    for name, part in parts.items():
        scored = part.assign(score=model.predict(part[feats].to_numpy()) if len(part) else [])
        result["rows"][name] = int(len(part))
        result[f"{name}_ic"] = finite(daily_ic(scored))
        if name == "test":
            pred = scored[["datetime", "instrument", "score", "label"]].sort_values(["datetime", "instrument"])
            pred.to_csv(os.path.join(out_dir, "pred.csv"), index=False, date_format="%Y-%m-%d")
    model.save(os.path.join(out_dir, "model.json"))
    return result


def main():
    task = taskfleet_task.load()
    out_dir = task.artifact_dir or task.work_dir or "."
    os.makedirs(out_dir, exist_ok=True)
    log(f"task {task.id}: attempt {task.attempt}")
    try:
        result = train(task.def_ or {}, out_dir)
    except BadDef as e:
        log(f"bad def: {e}")
        return 2
    except ImportError as e:
        log(f"{e}: install Debian's python3-pandas and python3-xgboost")
        return 1
    log(f"done: train IC {result['train_ic']}, valid IC {result.get('valid_ic')}, test IC {result.get('test_ic')}")
    taskfleet_task.done(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
