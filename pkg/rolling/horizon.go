package rolling

import (
	"fmt"
	"regexp"
	"strconv"
)

// defaultHorizons are MultiHorizonGen's default horizons (Qlib's default).
var defaultHorizons = []int{5}

var _ Generator = (*MultiHorizonGen)(nil)

// DefaultLabelLeakN is Qlib's default label_leak_n.
const DefaultLabelLeakN = 2

// SetHorizonFunc sets the prediction horizon h inside a task, in place:
// Qlib's abstract MultiHorizonGenBase.set_horizon.
type SetHorizonFunc func(task map[string]any, h int) error

// MultiHorizonGen makes one task per prediction horizon: Qlib's
// MultiHorizonGenBase. For each horizon h it copies the task, sets the
// horizon inside it (Set, then SetHorizonFunc), aligns every segment to the
// calendar and truncates every non-test segment to end at least
// h + LabelLeakN trading days before the test start (the earliest date of
// the test segment). The test segment itself is only aligned. No dataset
// modification runs.
//
// Qlib leaves set_horizon abstract; Set is a declarative way to fill it:
//
//	Set: map[string]any{
//		"dataset.kwargs.handler.kwargs.label": []any{"Ref($close, -{h+1}) / Ref($close, -1) - 1"},
//		"model.kwargs.horizon":                "{h}",
//	}
//
// A MultiHorizonGen is safe for concurrent use once configured.
type MultiHorizonGen struct {
	// Calendar is the trading calendar. Required.
	Calendar *Calendar

	// Horizons are the horizons, one task each, in this order. Defaults to
	// [5], Qlib's default.
	Horizons []int

	// LabelLeakN is the number of trading days after the prediction day the
	// label needs (Qlib's label_leak_n): segments are truncated to
	// h + LabelLeakN days before the test start. Qlib defaults it to 2
	// (DefaultLabelLeakN); the zero value here means 0, so set it.
	LabelLeakN int

	// Set maps dotted paths to values written into each task before
	// SetHorizonFunc runs, in path order. In the values (recursively, in
	// maps and lists) "{h}" is replaced by the horizon and "{h+N}" / "{h-N}"
	// by the horizon plus or minus N; a string that is only such a
	// placeholder becomes an integer. Missing maps on a path are created.
	// Defaults to nil: nothing is set.
	Set map[string]any

	// SetHorizonFunc, when set, runs after Set on every task copy: Qlib's
	// set_horizon. Defaults to nil.
	SetHorizonFunc SetHorizonFunc

	// TestKey is the key of the test segment. Defaults to "test".
	TestKey string

	// SegmentsPath is the dotted path of the segments map in a task.
	// Defaults to DefaultSegmentsPath.
	SegmentsPath string
}

// Validate checks the settings. Errors wrap ErrInvalidConfig and name the
// field.
func (g *MultiHorizonGen) Validate() error {
	if g.Calendar == nil {
		return invalidf("Calendar", "a trading calendar is required")
	}
	for i, h := range g.Horizons {
		if h <= 0 {
			return invalidf(fmt.Sprintf("Horizons[%d]", i), "must be > 0, got %d", h)
		}
	}
	if g.LabelLeakN < 0 {
		return invalidf("LabelLeakN", "must be ≥ 0, got %d", g.LabelLeakN)
	}
	for p := range g.Set {
		if p == "" {
			return invalidf("Set", "empty path")
		}
	}
	return nil
}

// Generate returns one task per horizon (Qlib's MultiHorizonGenBase.generate).
// Segment dates in the result are "2006-01-02" strings aligned to the
// calendar; open ends are nil. Errors are *PathErrors naming the dotted path
// inside the template, where Qlib would raise (a segment with an open end
// among the truncated ones, a test segment with no date, a truncation to
// calendar index 0, a date outside the calendar).
func (g *MultiHorizonGen) Generate(task map[string]any) ([]map[string]any, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	horizons := g.Horizons
	if len(horizons) == 0 {
		horizons = defaultHorizons
	}
	testKey, segPath := g.TestKey, g.SegmentsPath
	if testKey == "" {
		testKey = DefaultTestKey
	}
	if segPath == "" {
		segPath = DefaultSegmentsPath
	}
	ta := NewTimeAdjuster(g.Calendar)
	res := make([]map[string]any, 0, len(horizons))
	for _, h := range horizons {
		t := CopyTask(task)
		for _, p := range sortedKeys(g.Set) {
			if err := SetPath(t, p, expandHorizon(g.Set[p], h)); err != nil {
				return nil, err
			}
		}
		if g.SetHorizonFunc != nil {
			if err := g.SetHorizonFunc(t, h); err != nil {
				return nil, fmt.Errorf("horizon %d: %w", h, err)
			}
		}
		segs, err := ReadSegments(t, segPath)
		if err != nil {
			return nil, err
		}
		if _, ok := segs[testKey]; !ok {
			return nil, pathErrorf(joinPath(segPath, testKey), "missing: the template has no %q segment", testKey)
		}
		aligned, err := ta.AlignSegments(segs)
		if err != nil {
			return nil, prefixPath(segPath, err)
		}
		if err := TruncSegments(ta, aligned, h+g.LabelLeakN, testKey); err != nil {
			return nil, prefixPath(segPath, err)
		}
		if err := WriteSegments(t, segPath, aligned); err != nil {
			return nil, err
		}
		res = append(res, t)
	}
	return res, nil
}

var horizonRe = regexp.MustCompile(`\{h(?:\s*([+-])\s*(\d{1,9}))?\}`)

// expandHorizon returns a copy of v with the {h} placeholders replaced.
func expandHorizon(v any, h int) any {
	switch v := v.(type) {
	case string:
		if m := horizonRe.FindStringSubmatchIndex(v); len(m) >= 2 && m[0] == 0 && m[1] == len(v) {
			return horizonValue(v, h)
		}
		return horizonRe.ReplaceAllStringFunc(v, func(s string) string { return strconv.Itoa(horizonValue(s, h)) })
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = expandHorizon(e, h)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = expandHorizon(e, h)
		}
		return out
	case []string:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = expandHorizon(e, h)
		}
		return out
	default:
		return copyValue(v)
	}
}

// horizonValue evaluates one placeholder such as "{h+1}".
func horizonValue(s string, h int) int {
	m := horizonRe.FindStringSubmatch(s)
	if len(m) < 3 || m[1] == "" {
		return h
	}
	n, _ := strconv.Atoi(m[2]) // at most 9 digits: cannot fail
	if m[1] == "-" {
		return h - n
	}
	return h + n
}
