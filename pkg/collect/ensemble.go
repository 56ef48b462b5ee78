package collect

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Ensemble merges the values of a Collection into one object (Qlib's
// Ensemble.__call__). Group calls it once per group.
type Ensemble interface {
	Combine(c Collection) (any, error)
}

// EnsembleFunc adapts a function to the Ensemble interface.
type EnsembleFunc func(c Collection) (any, error)

// Combine calls f(c).
func (f EnsembleFunc) Combine(c Collection) (any, error) { return f(c) }

// asCollection accepts a Collection or a plain map[Key]any.
func asCollection(v any) (Collection, bool) {
	switch c := v.(type) {
	case Collection:
		return c, true
	case map[Key]any:
		return c, true
	}
	return nil, false
}

// collectionOf is the Process half shared by the groups and ensembles.
func collectionOf(v any) (Collection, error) {
	c, ok := asCollection(v)
	if !ok {
		return nil, fmt.Errorf("%w: got %T", ErrNotCollection, v)
	}
	return c, nil
}

// RollingEnsemble stitches the prediction frames of consecutive rolling windows
// into one frame (Qlib's RollingEnsemble). The keys are ignored.
//
// The frames are ordered by their earliest datetime (ties: by key), their rows
// are concatenated, and when a (datetime, instrument) pair appears more than
// once the last occurrence wins, so on overlapping windows the window that
// starts later wins. The result is sorted by (datetime, instrument). It has a
// label when any input has one; rows from a frame without labels get NaN. Frames
// without rows contribute nothing. An empty Collection is ErrEmpty; a value that
// is not a frame is ErrNotFrame.
type RollingEnsemble struct {
	// Logger receives the keys being merged at debug level, as Qlib logs
	// them. Defaults to a no-op logger.
	Logger *zap.Logger
}

// Frame merges c into one frame.
func (e RollingEnsemble) Frame(c Collection) (*Frame, error) {
	if len(c) == 0 {
		return nil, fmt.Errorf("rolling ensemble: %w", ErrEmpty)
	}
	if e.Logger != nil {
		e.Logger.Debug("rolling ensemble", zap.Stringers("keys", c.Keys()))
	}
	type window struct {
		f     *Frame
		start time.Time
	}
	windows := make([]window, 0, len(c))
	hasLabel := false
	for _, k := range c.Keys() {
		f, ok := asFrame(c[k])
		if !ok {
			return nil, fmt.Errorf("rolling ensemble: key %s: %w: got %T", k, ErrNotFrame, c[k])
		}
		hasLabel = hasLabel || f.HasLabel
		// A frame without rows adds nothing, wherever it would sort.
		if start, ok := f.MinDatetime(); ok {
			windows = append(windows, window{f: f, start: start})
		}
	}
	slices.SortStableFunc(windows, func(a, b window) int { return a.start.Compare(b.start) })

	total := 0
	for _, w := range windows {
		total += w.f.Len()
	}
	out := &Frame{Rows: make([]Row, 0, total), HasLabel: hasLabel}
	pos := make(map[index]int, total) // where each (datetime, instrument) sits in out
	for _, w := range windows {
		for _, r := range w.f.Rows {
			if !w.f.HasLabel {
				r.Label = math.NaN()
			}
			if i, seen := pos[indexOf(r)]; seen {
				out.Rows[i] = r // the later occurrence wins
				continue
			}
			pos[indexOf(r)] = len(out.Rows)
			out.Rows = append(out.Rows, r)
		}
	}
	slices.SortFunc(out.Rows, compareIndex) // the index is unique: no need for a stable sort
	return out, nil
}

// Combine implements Ensemble; the result is a *Frame.
func (e RollingEnsemble) Combine(c Collection) (any, error) { return e.Frame(c) }

// Process implements Processor: v must be a Collection.
func (e RollingEnsemble) Process(_ context.Context, v any) (any, error) {
	c, err := collectionOf(v)
	if err != nil {
		return nil, fmt.Errorf("rolling ensemble: %w", err)
	}
	return e.Frame(c)
}

// AverageEnsemble averages the scores of several models (Qlib's
// AverageEnsemble). A nested Collection is flattened first; the keys are
// ignored.
//
// The frames are outer-joined on (datetime, instrument). For each model and
// each datetime the scores are z-scored across instruments, (x - mean) / std
// with the sample standard deviation (n-1), NaN values skipped; then the score
// of a row is the mean of the models' z-scores that are not NaN, and NaN when
// none is. So a date where a model has a single instrument, or equal scores
// for all instruments, gives that model NaN there, exactly as pandas does.
// The result is sorted by (datetime, instrument). Labels are not averaged: a row
// takes the first non-NaN label of the models in key order.
//
// An empty Collection is ErrEmpty, a leaf that is not a frame ErrNotFrame, and a
// frame with two rows for one (datetime, instrument) ErrDuplicateRow (pandas
// cannot align it either).
type AverageEnsemble struct{}

// Frame averages c into one frame.
func (AverageEnsemble) Frame(c Collection) (*Frame, error) {
	var models []*Frame
	if err := flattenFrames(c, Key{}, &models); err != nil {
		return nil, fmt.Errorf("average ensemble: %w", err)
	}
	if len(models) == 0 {
		return nil, fmt.Errorf("average ensemble: %w", ErrEmpty)
	}

	type cell struct {
		row   Row     // index and label of the output row
		sum   float64 // sum of the models' z-scores
		count int     // how many z-scores are not NaN
	}
	cells := make(map[index]*cell)
	hasLabel := false
	for mi, m := range models {
		hasLabel = hasLabel || m.HasLabel
		rows := slices.Clone(m.Rows)
		slices.SortFunc(rows, compareIndex)
		for i := 1; i < len(rows); i++ {
			if compareIndex(rows[i-1], rows[i]) == 0 {
				return nil, fmt.Errorf("average ensemble: model %d: %w: %s %s", mi, ErrDuplicateRow,
					rows[i].Datetime.Format(time.DateOnly), rows[i].Instrument)
			}
		}
		groupByDatetime(rows, func(_ time.Time, day []Row) {
			mean, std := meanStd(day)
			for _, r := range day {
				ix := indexOf(r)
				cl := cells[ix]
				if cl == nil {
					cl = &cell{row: Row{Datetime: r.Datetime, Instrument: r.Instrument, Label: math.NaN()}}
					cells[ix] = cl
				}
				if m.HasLabel && math.IsNaN(cl.row.Label) {
					cl.row.Label = r.Label
				}
				if z := (r.Score - mean) / std; !math.IsNaN(z) {
					cl.sum += z
					cl.count++
				}
			}
		})
	}
	out := &Frame{Rows: make([]Row, 0, len(cells)), HasLabel: hasLabel}
	for _, cl := range cells {
		r := cl.row
		r.Score = math.NaN()
		if cl.count > 0 {
			r.Score = cl.sum / float64(cl.count)
		}
		out.Rows = append(out.Rows, r)
	}
	slices.SortFunc(out.Rows, compareIndex)
	return out, nil
}

// Combine implements Ensemble; the result is a *Frame.
func (e AverageEnsemble) Combine(c Collection) (any, error) { return e.Frame(c) }

// Process implements Processor: v must be a Collection.
func (e AverageEnsemble) Process(_ context.Context, v any) (any, error) {
	c, err := collectionOf(v)
	if err != nil {
		return nil, fmt.Errorf("average ensemble: %w", err)
	}
	return e.Frame(c)
}

// meanStd returns the mean and the sample standard deviation of the scores that
// are not NaN, like pandas' mean() and std(): NaN for fewer than one and two
// values.
func meanStd(rows []Row) (mean, std float64) {
	var n, sum float64
	for _, r := range rows {
		if !math.IsNaN(r.Score) {
			n++
			sum += r.Score
		}
	}
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	mean = sum / n
	if n < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, r := range rows {
		if !math.IsNaN(r.Score) {
			d := r.Score - mean
			ss += d * d
		}
	}
	return mean, math.Sqrt(ss / (n - 1))
}

// flattenFrames appends the frames of a possibly nested Collection in key order
// (Qlib's flatten_dict with FLATTEN_TUPLE).
func flattenFrames(c Collection, prefix Key, out *[]*Frame) error {
	for _, k := range c.Keys() {
		v := c[k]
		if sub, ok := asCollection(v); ok {
			if err := flattenFrames(sub, prefix.Concat(k), out); err != nil {
				return err
			}
			continue
		}
		f, ok := asFrame(v)
		if !ok {
			return fmt.Errorf("key %s: %w: got %T", prefix.Concat(k), ErrNotFrame, v)
		}
		*out = append(*out, f)
	}
	return nil
}

// SingleKeyEnsemble unwraps a Collection with exactly one key into its value,
// to make results easier to read (Qlib's SingleKeyEnsemble). A value that is not
// a Collection is returned as it is, and a Collection with zero or several keys
// is returned unchanged. By default nested Collections are unwrapped first,
// recursively.
type SingleKeyEnsemble struct {
	// NoRecursion turns off the unwrapping of nested values (Qlib's
	// recursion=False). Defaults to false: recursion on, as in Qlib.
	NoRecursion bool
}

// Unwrap applies the rule to v.
func (e SingleKeyEnsemble) Unwrap(v any) any {
	c, ok := asCollection(v)
	if !ok {
		return v
	}
	if !e.NoRecursion {
		tmp := make(Collection, len(c))
		for k, sub := range c {
			tmp[k] = e.Unwrap(sub)
		}
		c = tmp
	}
	if len(c) == 1 {
		for _, only := range c {
			return only
		}
	}
	return c
}

// Combine implements Ensemble. It never fails.
func (e SingleKeyEnsemble) Combine(c Collection) (any, error) { return e.Unwrap(c), nil }

// Process implements Processor. Any value is accepted.
func (e SingleKeyEnsemble) Process(_ context.Context, v any) (any, error) { return e.Unwrap(v), nil }
