package linear

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/taskfleet/taskfleet/internal/dataset"
	"github.com/taskfleet/taskfleet/pkg/rolling"
)

// Sentinel errors; errors from this package wrap them.
var (
	// ErrBadDef means the task def is malformed. The message names the field
	// or dotted path.
	ErrBadDef = errors.New("linear: bad def")

	// ErrNoData means a segment that must have rows (train) has none that
	// are complete.
	ErrNoData = errors.New("linear: no data")
)

// DefaultAlpha is the ridge penalty used when Def.Alpha is nil.
const DefaultAlpha = 1.0

// Segment is a date range [Start, End], both ends inclusive, as YYYY-MM-DD (or
// any form rolling.ParseDate reads). An empty Start or End leaves that side
// open (Qlib's None). The zero Segment means "no segment".
type Segment struct {
	Start string
	End   string
}

// IsZero reports whether s is the absent segment.
func (s Segment) IsZero() bool { return s.Start == "" && s.End == "" }

// Bounds parses the segment; a zero time is an open side.
func (s Segment) Bounds() (start, end time.Time, err error) {
	if s.Start != "" {
		if start, err = rolling.ParseDate(s.Start); err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("start: bad date %q", s.Start)
		}
	}
	if s.End != "" {
		if end, err = rolling.ParseDate(s.End); err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("end: bad date %q", s.End)
		}
	}
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		return time.Time{}, time.Time{}, fmt.Errorf("end %s is before start %s", s.End, s.Start)
	}
	return start, end, nil
}

// Def is the def of the linear task kind: one rolling window of a ridge
// regression. It is a plain struct, so it can be gob-encoded; its JSON form
// is Qlib's nested task shape (see DefFromMap).
type Def struct {
	// Train is the fitting segment. Required.
	Train Segment
	// Valid is the validation segment, where only the IC is measured.
	// Optional: the zero Segment skips validation.
	Valid Segment
	// Test is the segment predicted. Required.
	Test Segment

	// Alpha is the ridge penalty on the standardized coefficients; the
	// intercept is not penalized. 0 is ordinary least squares. Defaults
	// (nil) to DefaultAlpha.
	Alpha *float64

	// Features lists the feature columns to use. Defaults (empty) to every
	// feature of the panel.
	Features []string
}

// Validate checks the def without looking at any data.
func (d Def) Validate() error {
	for _, s := range []struct {
		path     string
		seg      Segment
		required bool
	}{
		{segPath + ".train", d.Train, true},
		{segPath + ".valid", d.Valid, false},
		{segPath + ".test", d.Test, true},
	} {
		if s.seg.IsZero() {
			if s.required {
				return fmt.Errorf("%w: %s: missing", ErrBadDef, s.path)
			}
			continue
		}
		if _, _, err := s.seg.Bounds(); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadDef, s.path, err)
		}
	}
	if a := d.Alpha; a != nil && (*a < 0 || math.IsNaN(*a) || math.IsInf(*a, 0)) {
		return fmt.Errorf("%w: %s: want a finite number >= 0, got %v", ErrBadDef, alphaPath, *a)
	}
	seen := map[string]bool{}
	for i, f := range d.Features {
		if f == "" || seen[f] {
			return fmt.Errorf("%w: %s.%d: empty or repeated feature %q", ErrBadDef, featuresPath, i, f)
		}
		seen[f] = true
	}
	return nil
}

// alpha returns the penalty with its default.
func (d Def) alpha() float64 {
	if d.Alpha == nil {
		return DefaultAlpha
	}
	return *d.Alpha
}

const (
	segPath      = "dataset.kwargs.segments"
	alphaPath    = "model.kwargs.alpha"
	featuresPath = "dataset.kwargs.features"
)

// DefFromMap reads a def in Qlib's nested task shape:
//
//	{"model":   {"class": "Ridge", "kwargs": {"alpha": 1.0}},
//	 "dataset": {"kwargs": {"segments": {"train": ["2010-01-01", "2014-12-31"],
//	                                     "valid": ["2015-01-01", "2015-12-31"],
//	                                     "test":  ["2016-01-01", null]},
//	                        "features": ["f0", "f1"]}}}
//
// A segment is a two-element list of dates (strings or time.Time; null or ""
// for an open side). valid, alpha and features are optional; other keys are
// ignored. Errors wrap ErrBadDef and name the dotted path.
func DefFromMap(m map[string]any) (Def, error) {
	var d Def
	for _, s := range []struct {
		name string
		dst  *Segment
	}{{"train", &d.Train}, {"valid", &d.Valid}, {"test", &d.Test}} {
		path := segPath + "." + s.name
		v, err := lookup(m, path)
		if err != nil {
			return Def{}, err
		}
		if v == nil {
			continue // absent; Validate decides whether that is allowed
		}
		if *s.dst, err = segmentFrom(path, v); err != nil {
			return Def{}, err
		}
	}

	v, err := lookup(m, alphaPath)
	if err != nil {
		return Def{}, err
	}
	if v != nil {
		a, ok := toFloat(v)
		if !ok {
			return Def{}, fmt.Errorf("%w: %s: want a number, got %T %v", ErrBadDef, alphaPath, v, v)
		}
		d.Alpha = &a
	}

	if v, err = lookup(m, featuresPath); err != nil {
		return Def{}, err
	}
	if v != nil {
		list, ok := toList(v)
		if !ok {
			return Def{}, fmt.Errorf("%w: %s: want a list of strings, got %T", ErrBadDef, featuresPath, v)
		}
		for i, e := range list {
			s, ok := e.(string)
			if !ok {
				return Def{}, fmt.Errorf("%w: %s.%d: want a string, got %T %v", ErrBadDef, featuresPath, i, e, e)
			}
			d.Features = append(d.Features, s)
		}
	}
	if err := d.Validate(); err != nil {
		return Def{}, err
	}
	return d, nil
}

// lookup returns the value at a dotted path through nested maps, or nil when
// a key along the way is absent or null. A path through anything else is an
// error naming where it stopped.
func lookup(m map[string]any, path string) (any, error) {
	var cur any = m
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		if cur == nil {
			return nil, nil
		}
		node, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %s: want a map, got %T %v", ErrBadDef, strings.Join(segs[:i], "."), cur, cur)
		}
		if cur, ok = node[seg]; !ok {
			return nil, nil
		}
	}
	return cur, nil
}

func segmentFrom(path string, v any) (Segment, error) {
	list, ok := toList(v)
	if !ok || len(list) != 2 {
		return Segment{}, fmt.Errorf("%w: %s: want [start, end], got %T %v", ErrBadDef, path, v, v)
	}
	var ends [2]string
	for i, e := range list {
		switch t := e.(type) {
		case nil:
		case string:
			ends[i] = t
		case time.Time:
			ends[i] = dataset.FormatDate(t)
		default:
			return Segment{}, fmt.Errorf("%w: %s.%d: want a date string or null, got %T %v", ErrBadDef, path, i, e, e)
		}
	}
	seg := Segment{Start: ends[0], End: ends[1]}
	if seg.IsZero() {
		return Segment{}, fmt.Errorf("%w: %s: both ends are open; give at least one date", ErrBadDef, path)
	}
	if _, _, err := seg.Bounds(); err != nil {
		return Segment{}, fmt.Errorf("%w: %s: %w", ErrBadDef, path, err)
	}
	return seg, nil
}

func toList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	case [2]string:
		return []any{l[0], l[1]}, true
	}
	return nil, false
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64: // YAML decodes unsigned integers so
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// Map returns d in Qlib's nested task shape, the inverse of DefFromMap.
func (d Def) Map() map[string]any {
	seg := func(s Segment) []any {
		out := []any{nil, nil}
		if s.Start != "" {
			out[0] = s.Start
		}
		if s.End != "" {
			out[1] = s.End
		}
		return out
	}
	segments := map[string]any{"train": seg(d.Train), "test": seg(d.Test)}
	if !d.Valid.IsZero() {
		segments["valid"] = seg(d.Valid)
	}
	dsKwargs := map[string]any{"segments": segments}
	if len(d.Features) > 0 {
		feats := make([]any, len(d.Features))
		for i, f := range d.Features {
			feats[i] = f
		}
		dsKwargs["features"] = feats
	}
	modelKwargs := map[string]any{}
	if d.Alpha != nil {
		modelKwargs["alpha"] = *d.Alpha
	}
	return map[string]any{
		"model":   map[string]any{"class": "Ridge", "kwargs": modelKwargs},
		"dataset": map[string]any{"kwargs": dsKwargs},
	}
}

// MarshalJSON encodes d in Qlib's nested task shape.
func (d Def) MarshalJSON() ([]byte, error) { return json.Marshal(d.Map()) }

// UnmarshalJSON decodes Qlib's nested task shape with DefFromMap, so a def
// stored as a JSON document converts to a Def.
func (d *Def) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%w: %w", ErrBadDef, err)
	}
	def, err := DefFromMap(m)
	if err != nil {
		return err
	}
	*d = def
	return nil
}
