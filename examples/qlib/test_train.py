"""Tests of train.py's pure parts: python3 -m unittest discover -s examples/qlib -v

The segment parsing tests need only the standard library; the slicing and IC
tests need pandas (Debian: python3-pandas) and are skipped without it.
"""

import math
import unittest

import train

try:
    import pandas as pd
except ImportError:
    pd = None

DEF = {"model": {"class": "Ridge", "kwargs": {"alpha": 1}},
       "dataset": {"kwargs": {"segments": {"train": ["2020-01-01", "2020-01-31"],
                                           "valid": ["2020-02-01", "2020-02-10"],
                                           "test": ["2020-02-11", None]}}}}


class SegmentTest(unittest.TestCase):
    def test_segments_of(self):
        segs = train.segments_of(DEF)
        self.assertEqual(segs["train"], ("2020-01-01", "2020-01-31"))
        self.assertEqual(segs["test"], ("2020-02-11", None), "an open end is None")

    def test_valid_is_optional(self):
        d = {"dataset": {"kwargs": {"segments": {"train": ["2020-01-01", "2020-01-31"], "test": ["2020-02-01", "2020-02-10"]}}}}
        self.assertIsNone(train.segments_of(d)["valid"])

    def test_timestamps_are_cut_to_dates(self):
        self.assertEqual(train.parse_segment(["2020-01-01 00:00:00", "2020-01-02T00:00:00"], "train"), ("2020-01-01", "2020-01-02"))

    def test_bad_segments_name_the_path(self):
        for segs, want in [
            ({}, "dataset.kwargs.segments.train: missing"),
            ({"train": ["2020-01-01", "2020-01-31"]}, "dataset.kwargs.segments.test: missing"),
            ({"train": "2020", "test": [None, None]}, "dataset.kwargs.segments.train: want [start, end]"),
            ({"train": ["2020-01-01", "2020-13-01"], "test": [None, None]}, "dataset.kwargs.segments.train[1]: bad date"),
            ({"train": ["2020-02-01", "2020-01-01"], "test": [None, None]}, "end 2020-01-01 is before start 2020-02-01"),
        ]:
            with self.assertRaises(train.BadDef) as cm:
                train.segments_of({"dataset": {"kwargs": {"segments": segs}}})
            self.assertIn(want, str(cm.exception))
        with self.assertRaisesRegex(train.BadDef, r"^dataset\.kwargs\.segments: missing"):
            train.segments_of({"model": {}})

    def test_unknown_model(self):
        with self.assertRaisesRegex(train.BadDef, "model.class: 'LGBModel': want one of XGBModel, Ridge"):
            train.make_model({"model": {"class": "LGBModel"}})
        with self.assertRaisesRegex(train.BadDef, "model.kwargs: .*unexpected keyword argument 'depth'"):
            train.make_model({"model": {"class": "Ridge", "kwargs": {"depth": 3}}})


@unittest.skipIf(pd is None, "needs pandas (Debian: python3-pandas)")
class FrameTest(unittest.TestCase):
    def frame(self):
        days = pd.to_datetime(["2020-01-30", "2020-01-31", "2020-02-03", "2020-02-04"])
        rows = []
        for i, d in enumerate(days):
            for j, inst in enumerate(["A", "B", "C"]):
                rows.append({"datetime": d, "instrument": inst, "score": float(j), "label": float(j) * (1 if i % 2 == 0 else -1)})
        return pd.DataFrame(rows)

    def test_slice_segment_is_inclusive(self):
        df = self.frame()
        got = train.slice_segment(df, ("2020-01-31", "2020-02-03"))
        self.assertEqual(sorted(got["datetime"].dt.strftime("%Y-%m-%d").unique()), ["2020-01-31", "2020-02-03"])
        self.assertEqual(len(train.slice_segment(df, ("2020-02-03", None))), 6, "an open end runs to the last day")
        self.assertEqual(len(train.slice_segment(df, (None, "2020-01-30"))), 3)
        self.assertTrue(train.slice_segment(df, ("2021-01-01", None)).empty)

    def test_daily_ic(self):
        df = self.frame()
        self.assertAlmostEqual(train.daily_ic(df), 0.0, msg="+1 and -1 on alternate days")
        self.assertAlmostEqual(train.daily_ic(df[df["datetime"] == df["datetime"].iloc[0]]), 1.0)
        odd = df[df["datetime"] == df["datetime"].iloc[3]]
        self.assertAlmostEqual(train.daily_ic(odd, method="spearman"), -1.0)

    def test_daily_ic_skips_degenerate_days(self):
        df = self.frame()
        df.loc[df["datetime"] == df["datetime"].iloc[3], "score"] = 5.0  # constant on one day
        df.loc[df["datetime"] == df["datetime"].iloc[9], "label"] = float("nan")  # no labels on another
        self.assertAlmostEqual(train.daily_ic(df), 1.0, msg="two days left, both +1")
        self.assertTrue(math.isnan(train.daily_ic(df.iloc[:0])))

    def test_ridge_recovers_a_line(self):
        import numpy as np
        rng = np.random.default_rng(0)
        x = rng.normal(size=(500, 3))
        y = x @ np.array([1.0, -2.0, 0.5]) + 3
        m = train.RidgeModel(alpha=0).fit(x, y)
        np.testing.assert_allclose(m.predict(x), y, atol=1e-9)


if __name__ == "__main__":
    unittest.main()
