package collect

import (
	"slices"
	"strings"
	"time"
)

// Row is one prediction: Qlib's pred.pkl row indexed by (datetime, instrument),
// with the score column and, optionally, the label.
type Row struct {
	Datetime   time.Time
	Instrument string
	Score      float64
	// Label is the realised target; NaN when unknown. It is meaningful only
	// when the frame's HasLabel is true.
	Label float64
}

// Frame is a prediction frame: rows of (datetime, instrument, score[, label]).
// It is a plain struct with exported fields, so it can be gob-encoded as a task
// result. A Frame is not safe for concurrent mutation; the functions of this
// package never modify a Frame they are given.
type Frame struct {
	Rows []Row
	// HasLabel says whether Row.Label is populated (writers add a label
	// column, IC needs it).
	HasLabel bool
}

// Len returns the number of rows. A nil Frame has none.
func (f *Frame) Len() int {
	if f == nil {
		return 0
	}
	return len(f.Rows)
}

// Clone returns a deep copy of f.
func (f *Frame) Clone() *Frame {
	if f == nil {
		return nil
	}
	return &Frame{Rows: slices.Clone(f.Rows), HasLabel: f.HasLabel}
}

// SortIndex sorts the rows by (datetime, instrument) in place, keeping the order
// of equal rows (pandas sort_index).
func (f *Frame) SortIndex() {
	slices.SortStableFunc(f.Rows, compareIndex)
}

// MinDatetime returns the earliest datetime, and false when f has no rows.
func (f *Frame) MinDatetime() (time.Time, bool) {
	if f.Len() == 0 {
		return time.Time{}, false
	}
	m := f.Rows[0].Datetime
	for _, r := range f.Rows[1:] {
		if r.Datetime.Before(m) {
			m = r.Datetime
		}
	}
	return m, true
}

// Between returns the rows with start <= datetime <= end as a new frame. A zero
// start or end leaves that side open.
func (f *Frame) Between(start, end time.Time) *Frame {
	out := &Frame{HasLabel: f.HasLabel}
	for _, r := range f.Rows {
		if (!start.IsZero() && r.Datetime.Before(start)) || (!end.IsZero() && r.Datetime.After(end)) {
			continue
		}
		out.Rows = append(out.Rows, r)
	}
	return out
}

func compareIndex(a, b Row) int {
	if c := a.Datetime.Compare(b.Datetime); c != 0 {
		return c
	}
	return strings.Compare(a.Instrument, b.Instrument)
}

// index identifies a row. time.Time is not a reliable map key (its location
// pointer takes part in ==), so the instant is stored as Unix nanoseconds.
type index struct {
	unixNano   int64
	instrument string
}

func indexOf(r Row) index { return index{r.Datetime.UnixNano(), r.Instrument} }

// asFrame accepts a *Frame or a Frame value (as a gob-decoded result may hold).
func asFrame(v any) (*Frame, bool) {
	switch f := v.(type) {
	case *Frame:
		return f, f != nil
	case Frame:
		return &f, true
	}
	return nil, false
}

// groupByDatetime calls fn for each run of rows sharing a datetime, in datetime
// order. rows must be sorted by datetime.
func groupByDatetime(rows []Row, fn func(dt time.Time, rows []Row)) {
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].Datetime.Equal(rows[i].Datetime) {
			j++
		}
		fn(rows[i].Datetime, rows[i:j])
		i = j
	}
}
