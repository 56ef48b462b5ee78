package collect

import (
	"context"
	"io"
	"math"
)

// Labels are realised targets by (datetime, instrument), read from a label
// file, to score predictions that carry no label column.
type Labels struct {
	m map[index]float64
}

// Len returns the number of labels.
func (l *Labels) Len() int { return len(l.m) }

// ReadLabels reads a label file, CSV or Parquet by the extension of o.Name:
// the columns datetime, instrument and label, others ignored (a dataset
// panel written by `dispatcher dataset` reads as is). Errors are those of
// ReadFrame.
func ReadLabels(ctx context.Context, r io.Reader, size int64, o ReadOptions) (*Labels, error) {
	f, err := readFile(ctx, r, size, o, fileSpec{labels: true})
	if err != nil {
		return nil, err
	}
	l := &Labels{m: make(map[index]float64, len(f.Rows))}
	for _, r := range f.Rows {
		l.m[indexOf(r)] = r.Label
	}
	return l, nil
}

// WithLabels returns a copy of f whose labels are those of l, joined on
// (datetime, instrument); a row l has no label for gets NaN. Any label f
// had is replaced.
func (f *Frame) WithLabels(l *Labels) *Frame {
	out := &Frame{Rows: make([]Row, len(f.Rows)), HasLabel: true}
	for i, r := range f.Rows {
		r.Label = math.NaN()
		if v, ok := l.m[indexOf(r)]; ok {
			r.Label = v
		}
		out.Rows[i] = r
	}
	return out
}
