// Package dataset provides the panel data the linear task kind trains on: a
// long-format table of (datetime, instrument, features..., label) rows.
//
// # Qlib names
//
//	Qlib                                   taskfleet
//	DatasetH + DataHandlerLP (Alpha158)    Panel (features and label already computed)
//	dataset.prepare(segment)               Panel.Between(start, end), both ends inclusive
//	segments {"train": (start, end)}       linear.Segment, parsed with rolling.ParseDate
//
// # Sources
//
// LoadCSV and ReadCSV read a CSV file whose header names the columns
// datetime, instrument and label, every other column being a feature. A bad
// row is reported as a *ParseError with the file and line:
//
//	data.csv:17: column "f3": bad number "abc"
//
// Synthetic generates a deterministic market for a seed, with a planted,
// noisy linear signal: label = w·x + noise. A working train/predict pipeline
// shows a clearly positive out-of-sample IC on it; a broken one (shuffled
// labels, misaligned dates) shows none. That makes it the data set for
// end-to-end tests and demos.
//
// # Dates
//
// Datetimes are naive, as in pandas and Qlib: they are stored as the wall
// clock in UTC, and a range [start, end] includes both ends. A zero start or
// end is open.
package dataset
