package rolling

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Align says how a time point is aligned to the trading calendar.
type Align int

const (
	// AlignStart aligns to the first trading day on or after the time
	// (Qlib's tp_type="start", bisect_left).
	AlignStart Align = iota
	// AlignEnd aligns to the last trading day on or before the time (Qlib's
	// tp_type="end", bisect_right - 1).
	AlignEnd
)

// String returns "start" or "end".
func (a Align) String() string {
	if a == AlignEnd {
		return "end"
	}
	return "start"
}

// RollType is how segments move from one rolling window to the next (Qlib's
// rtype and TimeAdjuster shift type).
type RollType string

const (
	// Expanding keeps the start of a segment and moves its end (Qlib's
	// ROLL_EX / SHIFT_EX). Under RollingGen only the train segment expands;
	// the others slide.
	Expanding RollType = "expanding"
	// Sliding moves both ends of a segment (Qlib's ROLL_SD / SHIFT_SD).
	Sliding RollType = "sliding"
)

// Segment is a [Start, End] window of a task, both ends inclusive. The zero
// Time is an open end: Qlib's None.
type Segment struct {
	// Start is the first day; the zero Time is an open start.
	Start time.Time
	// End is the last day, inclusive; the zero Time is an open end.
	End time.Time
}

// String formats s as "[2020-01-02, 2020-03-31]", with null for an open end.
func (s Segment) String() string {
	return "[" + formatOrNull(s.Start) + ", " + formatOrNull(s.End) + "]"
}

func formatOrNull(t time.Time) string {
	if t.IsZero() {
		return "null"
	}
	return FormatDate(t)
}

// endName names the two ends of a segment in error messages.
var endName = [2]string{"start", "end"}

// pointError is an error about one end of a segment (0 = start, 1 = end).
// Generators turn it into a *PathError ending in ".0" or ".1".
type pointError struct {
	point int
	err   error
}

func (e *pointError) Error() string { return endName[e.point] + ": " + e.err.Error() }
func (e *pointError) Unwrap() error { return e.err }

// errShiftedPastEnd is returned by Shift when a segment's start moves more
// than one day past the calendar (Qlib's KeyError "The segment is out of
// valid calendar"); rolling stops there.
var errShiftedPastEnd = fmt.Errorf("%w: the segment is shifted past the end of the calendar", ErrOutOfCalendar)

// TimeAdjuster aligns dates and segments to a trading calendar, truncates
// segments and shifts them by a number of trading days: Qlib's TimeAdjuster
// (qlib/workflow/task/utils.py) with the same index arithmetic and the same
// rules for open ends. Where Qlib raises (IndexError, AssertionError,
// TypeError on None) or silently wraps a negative index around to the end of
// the calendar, the methods return an error instead.
//
// A TimeAdjuster is immutable and safe for concurrent use.
type TimeAdjuster struct {
	cal *Calendar
}

// NewTimeAdjuster returns a TimeAdjuster over cal.
func NewTimeAdjuster(cal *Calendar) *TimeAdjuster { return &TimeAdjuster{cal: cal} }

// Calendar returns the adjuster's calendar.
func (ta *TimeAdjuster) Calendar() *Calendar { return ta.cal }

// Get returns the trading day at idx, or the zero Time (an open end) when idx
// is past the last day, like Qlib's get. A negative idx also yields the zero
// Time (Qlib would wrap around to the end of the calendar); the package's
// own callers never pass one.
func (ta *TimeAdjuster) Get(idx int) time.Time {
	if idx < 0 || idx >= len(ta.cal.days) {
		return time.Time{}
	}
	return ta.cal.days[idx]
}

// Max returns the last trading day (Qlib's max()).
func (ta *TimeAdjuster) Max() time.Time { return ta.cal.Last() }

// AlignIndex returns the calendar index of t (Qlib's align_idx): for
// AlignStart the first index whose day is ≥ t (Len() when t is after the
// last day), for AlignEnd the last index whose day is ≤ t (-1 when t is
// before the first day). ok is false when t is the zero Time, an open end,
// for which Qlib returns None.
func (ta *TimeAdjuster) AlignIndex(t time.Time, a Align) (idx int, ok bool) {
	if t.IsZero() {
		return 0, false
	}
	if a == AlignEnd {
		return ta.cal.searchEnd(t), true
	}
	return ta.cal.searchStart(t), true
}

// Interval returns the number of trading days from b to a, both aligned as
// starts (Qlib's cal_interval(a, b) = align_idx(a) - align_idx(b)). It is
// negative when a is before b. An open end has no index: Qlib raises a
// TypeError, Interval returns an error.
func (ta *TimeAdjuster) Interval(a, b time.Time) (int, error) {
	ia, oka := ta.AlignIndex(a, AlignStart)
	ib, okb := ta.AlignIndex(b, AlignStart)
	if !oka || !okb {
		return 0, errors.New("interval of an open end")
	}
	return ia - ib, nil
}

// AlignTime aligns t to a trading day (Qlib's align_time): the first day on
// or after t for AlignStart, the last day on or before t for AlignEnd. The
// zero Time stays zero. It returns an error wrapping ErrOutOfCalendar when
// no such day exists: a start after the last day (Qlib raises IndexError) or
// an end before the first day (Qlib silently returns the last day).
func (ta *TimeAdjuster) AlignTime(t time.Time, a Align) (time.Time, error) {
	idx, ok := ta.AlignIndex(t, a)
	if !ok {
		return time.Time{}, nil
	}
	if idx >= len(ta.cal.days) {
		return time.Time{}, fmt.Errorf("%w: %s is after the calendar's last day %s", ErrOutOfCalendar, FormatDate(t), FormatDate(ta.cal.Last()))
	}
	if idx < 0 {
		return time.Time{}, fmt.Errorf("%w: %s is before the calendar's first day %s", ErrOutOfCalendar, FormatDate(t), FormatDate(ta.cal.First()))
	}
	return ta.cal.days[idx], nil
}

// AlignSegment aligns a segment (Qlib's align_seg on a tuple): its start to
// the first trading day ≥ Start, its end to the last trading day ≤ End. Open
// ends stay open. See AlignTime for the errors.
func (ta *TimeAdjuster) AlignSegment(s Segment) (Segment, error) {
	start, err := ta.AlignTime(s.Start, AlignStart)
	if err != nil {
		return Segment{}, &pointError{0, err}
	}
	end, err := ta.AlignTime(s.End, AlignEnd)
	if err != nil {
		return Segment{}, &pointError{1, err}
	}
	return Segment{Start: start, End: end}, nil
}

// AlignSegments aligns every segment of a map (Qlib's align_seg on a dict)
// and returns a new map. An error is a *PathError naming the key and the end
// (for example "test.0").
func (ta *TimeAdjuster) AlignSegments(segs map[string]Segment) (map[string]Segment, error) {
	out := make(map[string]Segment, len(segs))
	for _, k := range sortedKeys(segs) {
		s, err := ta.AlignSegment(segs[k])
		if err != nil {
			return nil, segmentError(k, err)
		}
		out[k] = s
	}
	return out, nil
}

// AlignNested aligns segments in document form, recursively, like Qlib's
// align_seg: a map[string]any is aligned key by key, and a two-element list
// ([]any or []string) of dates or nils is aligned as a segment. The result
// has the same shape, with dates as "2006-01-02" strings and open ends as
// nil. Anything else is an error; errors are *PathErrors relative to v.
func (ta *TimeAdjuster) AlignNested(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range sortedKeys(v) {
			a, err := ta.AlignNested(v[k])
			if err != nil {
				return nil, prefixPath(k, err)
			}
			out[k] = a
		}
		return out, nil
	default:
		s, err := parseSegment(v)
		if err != nil {
			return nil, err
		}
		a, err := ta.AlignSegment(s)
		if err != nil {
			return nil, segmentError("", err)
		}
		return segmentValue(a), nil
	}
}

// Truncate clamps both ends of a segment to at most days trading days before
// testStart (Qlib's truncate): each end becomes the day at
// min(align_idx(end), align_idx(testStart) - days), both aligned as starts.
// Qlib asserts that this index is > 0, so a segment can never be truncated to
// the calendar's first day; Truncate returns an error wrapping
// ErrOutOfCalendar instead of failing the assertion. An open end has no
// index: Qlib raises a TypeError, Truncate returns an error.
func (ta *TimeAdjuster) Truncate(s Segment, testStart time.Time, days int) (Segment, error) {
	ti, ok := ta.AlignIndex(testStart, AlignStart)
	if !ok {
		return Segment{}, errors.New("truncate: open test start")
	}
	var out [2]time.Time
	for p, tp := range [2]time.Time{s.Start, s.End} {
		idx, ok := ta.AlignIndex(tp, AlignStart)
		if !ok {
			return Segment{}, &pointError{p, fmt.Errorf("open %s: Qlib cannot truncate a segment with an open end (it raises TypeError); give a date or drop trunc_days", endName[p])}
		}
		idx = min(idx, ti-days)
		if idx <= 0 {
			return Segment{}, &pointError{p, fmt.Errorf("%w: truncating %s to %d trading days before the test start %s lands on calendar index %d; Qlib requires an index > 0 (it asserts tp_idx > 0), so start the calendar earlier",
				ErrOutOfCalendar, FormatDate(tp), days, FormatDate(testStart), idx)}
		}
		out[p] = ta.Get(idx)
	}
	return Segment{Start: out[0], End: out[1]}, nil
}

// Shift moves a segment by step trading days (Qlib's shift): the start is
// aligned as a start and the end as an end, then Sliding adds step to both
// and Expanding only to the end. Open ends stay open, and an end moved past
// the calendar becomes open. When the start moves more than one day past the
// calendar (Qlib's off-by-one guard start > len raises KeyError, which ends
// rolling) the error wraps ErrOutOfCalendar; a start moved exactly one day
// past the calendar becomes open, as in Qlib.
func (ta *TimeAdjuster) Shift(s Segment, step int, rt RollType) (Segment, error) {
	si, sok := ta.AlignIndex(s.Start, AlignStart)
	ei, eok := ta.AlignIndex(s.End, AlignEnd)
	switch rt {
	case Sliding:
		si += step
		ei += step
	case Expanding:
		ei += step
	default:
		return Segment{}, fmt.Errorf("%w: unknown roll type %q", ErrInvalidConfig, rt)
	}
	n := len(ta.cal.days)
	if sok && si > n {
		return Segment{}, errShiftedPastEnd
	}
	if (sok && si < 0) || (eok && ei < 0) {
		return Segment{}, fmt.Errorf("%w: segment %s shifted by %d lies before the calendar's first day", ErrOutOfCalendar, s, step)
	}
	var out Segment
	if sok {
		out.Start = ta.Get(si)
	}
	if eok {
		out.End = ta.Get(ei)
	}
	return out, nil
}

// segmentError turns an error about a segment into a *PathError naming the
// segment key and, for an error about one end, the end index.
func segmentError(key string, err error) error {
	var pe *pointError
	if errors.As(err, &pe) {
		return &PathError{Path: joinPath(key, strconv.Itoa(pe.point)), Err: pe.err}
	}
	var perr *PathError
	if errors.As(err, &perr) {
		return prefixPath(key, err)
	}
	return &PathError{Path: key, Err: err}
}

// sortedKeys returns the keys of m in ascending order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
