// Package linear is the linear task kind: a ridge regression over a panel
// dataset for one rolling window, the Go stand-in for a Qlib task that trains
// a model, predicts its test segment and records the signal analysis.
//
// # Qlib names
//
//	Qlib                                       taskfleet
//	task["dataset"]["kwargs"]["segments"]      Def.Train, Def.Valid, Def.Test (Segment)
//	task["model"]["kwargs"]["alpha"]           Def.Alpha (default 1.0)
//	model.fit(dataset) + SignalRecord          Train
//	pred.pkl                                   Result.Pred (*collect.Frame, with labels)
//	SigAnaRecord IC / Rank IC / ICIR           Result.Metrics
//	recorder artifacts                         pred.parquet artifact; Result.Artifacts: "metrics"
//
// # The model
//
// Features are standardized with the train segment's mean and standard
// deviation, the coefficients solve (ZᵀZ + αI)w = Zᵀ(y - ȳ) (gonum, Cholesky)
// and the intercept is ȳ, unpenalized. Train reports the train IC (in
// sample), the valid IC, and the test IC, rank IC and ICIR; the IC of a
// segment is the mean of its daily cross-sectional Pearson correlations.
//
// # Defs
//
// Def is a plain struct (gob-encodable). DefFromMap and Def's JSON methods read
// and write Qlib's nested task shape:
//
//	{"model":   {"class": "Ridge", "kwargs": {"alpha": 1.0}},
//	 "dataset": {"kwargs": {"segments": {"train": ["2010-01-01", "2014-12-31"],
//	                                     "valid": ["2015-01-01", "2015-12-31"],
//	                                     "test":  ["2016-01-01", null]}}}}
//
// Errors about the def wrap ErrBadDef and name the dotted path, for example
// "linear: bad def: dataset.kwargs.segments.test: missing".
package linear
