// Package collect gathers the results of finished tasks and combines them:
// collectors, groups, ensembles, prediction frames, IC metrics and writers. It
// is the Go counterpart of qlib/workflow/task/collect.py and qlib/model/ens.
//
// collect imports no task store. A store is adapted to the one-method Source
// interface, which yields finished tasks as TaskResult values.
//
// # Qlib names
//
//	Qlib                               taskfleet
//	Collector.collect / __call__       Collector.Collect (collect, then the process list)
//	Collector.process_collect          Process
//	MergeCollector                     MergeCollector (key: name prepended, or MergeFunc)
//	RecorderCollector                  PoolCollector over a Source
//	  rec_key_func                     PoolCollector.KeyPaths (dotted paths) or KeyFunc
//	  rec_filter_func                  PoolCollector.FilterFunc
//	  artifacts_key                    PoolCollector.Artifacts (default {"pred"})
//	  artifacts_path {"pred": pred.pkl} PoolCollector.Files (default {"pred": pred.parquet, pred.csv})
//	  only_exist                       PoolCollector.OnlyExist (default false: strict)
//	  ART_KEY_RAW "__raw"              RawArtifact
//	Group(group_func, ens), n_jobs     Group{GroupFunc, Ensemble, Concurrency}
//	RollingGroup                       RollingGroup, GroupByPrefix
//	Ensemble.__call__                  Ensemble.Combine
//	RollingEnsemble                    RollingEnsemble
//	AverageEnsemble                    AverageEnsemble
//	SingleKeyEnsemble(recursion=True)  SingleKeyEnsemble{NoRecursion: false}
//	pred.pkl (DataFrame "score")       Frame, Row
//	calc_ic, SigAnaRecord IC / ICIR    Frame.IC, ICSummary, Pearson, Spearman
//
// # Keys and collections
//
// A Collection maps a Key to anything. A Key is a comparable tuple, so Qlib's
// tuple keys work as map keys: PoolCollector with KeyPaths
// {"model.class", "dataset.kwargs.segments.test"} keys a task by
// ("LGBModel", ["2017-01-01","2017-06-30"]). PoolCollector returns
// {("pred",): {task key: *Frame}}; a process list such as
// []Processor{RollingGroup{}} then turns the inner collection into
// {("LGBModel",): stitched *Frame}.
//
// # Rules kept from Qlib
//
//   - Process applies the processors, in order, to each top-level value.
//   - PoolCollector: the filter runs before the key; a task missing an artifact
//     fails the collection unless OnlyExist, in which case it is skipped; an
//     artifact no task has is absent from the result; when two tasks share a
//     key the later one (in Source order) overwrites the earlier one and a
//     warning is logged.
//   - RollingGroup groups by all but the last key element.
//   - RollingEnsemble orders windows by their first datetime, concatenates
//     them, keeps the last row of each (datetime, instrument), so the window
//     that starts later wins an overlap, and sorts the result.
//   - AverageEnsemble flattens nested collections, z-scores each model per
//     datetime with the sample standard deviation and averages the z-scores.
//   - SingleKeyEnsemble unwraps one-key collections, recursively by default.
//   - Ensembling nothing is ErrEmpty, as pd.concat([]) raises.
//
// Where Qlib depends on dict insertion order, this package uses Key order, so
// results do not depend on map iteration.
//
// # Prediction files
//
// Frame.WriteCSV and Frame.WriteParquet write datetime, instrument, score and,
// when present, label. The Parquet datetime column is a nanosecond timestamp
// without time zone, and the file carries pandas' metadata, so
// pandas.read_parquet returns pred.pkl's layout: a (datetime, instrument)
// MultiIndex of datetime64[ns] and str, and float64 columns.
//
// ReadCSV, ReadParquet and ReadFrame read prediction files back, whoever wrote
// them (pandas, DuckDB, this package): columns found by name, others ignored.
// They are bounded (ReadOptions: bytes and rows, checked before allocating)
// and report a malformed file as a *ParseError naming the file and the line
// or row. ReadLabels and Frame.WithLabels join labels from a separate file.
// A Source whose TaskResult has Files lets PoolCollector read each task's
// prediction artifact, whatever produced it.
//
// # Concurrency
//
// Collectors, groups and ensembles keep no state between calls and may be used
// from several goroutines. Group reduces up to Concurrency groups at once.
package collect
