package dataset

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrInvalid means a panel, a date or a generator configuration is malformed.
var ErrInvalid = errors.New("dataset: invalid")

// Row is one (datetime, instrument) observation.
type Row struct {
	Datetime   time.Time
	Instrument string
	// Features holds one value per Panel.Features entry; NaN when missing.
	Features []float64
	// Label is the target; NaN when missing.
	Label float64
}

// Panel is a long-format panel: one row per (datetime, instrument), sorted by
// datetime then instrument, every row with len(Features) values.
//
// A Panel is read-only once built: Between returns views that share rows with
// the panel they come from. It is safe to read from several goroutines.
type Panel struct {
	Features []string
	Rows     []Row
}

// NewPanel checks rows, sorts them by (datetime, instrument) and returns the
// panel. It fails on a row with the wrong number of features, an empty
// instrument or a repeated (datetime, instrument). rows is sorted in place.
func NewPanel(features []string, rows []Row) (*Panel, error) {
	if len(features) == 0 {
		return nil, fmt.Errorf("%w: a panel needs at least one feature", ErrInvalid)
	}
	seen := make(map[string]bool, len(features))
	for _, f := range features {
		if seen[f] {
			return nil, fmt.Errorf("%w: feature %q appears twice", ErrInvalid, f)
		}
		seen[f] = true
	}
	for i, r := range rows {
		if len(r.Features) != len(features) {
			return nil, fmt.Errorf("%w: row %d has %d features, want %d", ErrInvalid, i, len(r.Features), len(features))
		}
		if r.Instrument == "" {
			return nil, fmt.Errorf("%w: row %d has no instrument", ErrInvalid, i)
		}
	}
	slices.SortStableFunc(rows, compareRows)
	for i := 1; i < len(rows); i++ {
		if compareRows(rows[i-1], rows[i]) == 0 {
			return nil, fmt.Errorf("%w: two rows for %s %s", ErrInvalid, FormatDate(rows[i].Datetime), rows[i].Instrument)
		}
	}
	return &Panel{Features: features, Rows: rows}, nil
}

func compareRows(a, b Row) int {
	if c := a.Datetime.Compare(b.Datetime); c != 0 {
		return c
	}
	return strings.Compare(a.Instrument, b.Instrument)
}

// Len returns the number of rows.
func (p *Panel) Len() int { return len(p.Rows) }

// FeatureIndex returns the column of the named feature, or -1.
func (p *Panel) FeatureIndex(name string) int { return slices.Index(p.Features, name) }

// Between returns the rows with start <= datetime <= end. A zero start or end
// leaves that side open. The result shares its rows with p.
func (p *Panel) Between(start, end time.Time) *Panel {
	lo := 0
	if !start.IsZero() {
		// First row not before start.
		lo, _ = slices.BinarySearchFunc(p.Rows, start, func(r Row, t time.Time) int { return r.Datetime.Compare(t) })
	}
	hi := len(p.Rows)
	if !end.IsZero() {
		// First row after end.
		hi, _ = slices.BinarySearchFunc(p.Rows, end, func(r Row, t time.Time) int {
			if r.Datetime.After(t) {
				return 1
			}
			return -1
		})
	}
	if hi < lo {
		hi = lo
	}
	return &Panel{Features: p.Features, Rows: p.Rows[lo:hi:hi]}
}

// Dates returns the distinct datetimes, in order.
func (p *Panel) Dates() []time.Time {
	var out []time.Time
	for i, r := range p.Rows {
		if i == 0 || !r.Datetime.Equal(p.Rows[i-1].Datetime) {
			out = append(out, r.Datetime)
		}
	}
	return out
}

// Instruments returns the distinct instruments, sorted.
func (p *Panel) Instruments() []string {
	set := make(map[string]struct{})
	for _, r := range p.Rows {
		set[r.Instrument] = struct{}{}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// FormatDate formats t as YYYY-MM-DD, or YYYY-MM-DD HH:MM:SS when t is not
// midnight.
func FormatDate(t time.Time) string {
	if h, m, s := t.Clock(); h == 0 && m == 0 && s == 0 && t.Nanosecond() == 0 {
		return t.Format(time.DateOnly)
	}
	return t.Format("2006-01-02 15:04:05")
}
