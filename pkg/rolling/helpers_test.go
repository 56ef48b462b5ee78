package rolling

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The test calendar: business days of 2020-01-01 .. 2020-03-31 without the
// holidays 2020-01-01 (Wed), 2020-01-20 (Mon) and 2020-02-17 (Mon). 62 days;
// index: day.
//
//	 0 01-02 Thu |  1 01-03 Fri |  2 01-06 Mon |  3 01-07 Tue |  4 01-08 Wed
//	 5 01-09 Thu |  6 01-10 Fri |  7 01-13 Mon |  8 01-14 Tue |  9 01-15 Wed
//	10 01-16 Thu | 11 01-17 Fri | 12 01-21 Tue | 13 01-22 Wed | 14 01-23 Thu
//	15 01-24 Fri | 16 01-27 Mon | 17 01-28 Tue | 18 01-29 Wed | 19 01-30 Thu
//	20 01-31 Fri | 21 02-03 Mon | 22 02-04 Tue | 23 02-05 Wed | 24 02-06 Thu
//	25 02-07 Fri | 26 02-10 Mon | 27 02-11 Tue | 28 02-12 Wed | 29 02-13 Thu
//	30 02-14 Fri | 31 02-18 Tue | 32 02-19 Wed | 33 02-20 Thu | 34 02-21 Fri
//	35 02-24 Mon | 36 02-25 Tue | 37 02-26 Wed | 38 02-27 Thu | 39 02-28 Fri
//	40 03-02 Mon | 41 03-03 Tue | 42 03-04 Wed | 43 03-05 Thu | 44 03-06 Fri
//	45 03-09 Mon | 46 03-10 Tue | 47 03-11 Wed | 48 03-12 Thu | 49 03-13 Fri
//	50 03-16 Mon | 51 03-17 Tue | 52 03-18 Wed | 53 03-19 Thu | 54 03-20 Fri
//	55 03-23 Mon | 56 03-24 Tue | 57 03-25 Wed | 58 03-26 Thu | 59 03-27 Fri
//	60 03-30 Mon | 61 03-31 Tue
//
// Weekends in the segments below (01-04 Sat, 02-01 Sat, 03-01 Sun, ...) and
// the holidays make alignment matter.
func testCal(t testing.TB) *Calendar {
	t.Helper()
	cal, err := BusinessDays(d(t, "2020-01-01"), d(t, "2020-03-31"),
		[]time.Time{d(t, "2020-01-01"), d(t, "2020-01-20"), d(t, "2020-02-17")})
	require.NoError(t, err)
	require.Equal(t, 62, cal.Len())
	return cal
}

// d parses a date or fails the test.
func d(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := ParseDate(s)
	require.NoError(t, err)
	return tm
}

// seg builds a segment value for a template: a date string or nil per end.
func seg(start, end any) []any { return []any{start, end} }

// tmpl builds a task template with the given segments and handler (nil: no
// handler key).
func tmpl(segs map[string]any, handler any) map[string]any {
	ds := map[string]any{"class": "DatasetH", "segments": segs}
	if handler != nil {
		ds["handler"] = handler
	}
	return map[string]any{
		"model":   map[string]any{"class": "LGBModel"},
		"dataset": map[string]any{"class": "DatasetH", "kwargs": ds},
	}
}

// handlerEnd builds a handler whose kwargs hold end_time.
func handlerEnd(end any) map[string]any {
	return map[string]any{"class": "Alpha158", "kwargs": map[string]any{"start_time": "2020-01-01", "end_time": end}}
}

// windows renders each task's segments and handler end on one line:
// "train=[2020-01-06, 2020-01-30] test=[2020-02-03, 2020-02-14] end_time=2020-02-14".
func windows(t testing.TB, tasks []map[string]any) []string {
	t.Helper()
	out := make([]string, 0, len(tasks))
	for _, task := range tasks {
		segs, err := ReadSegments(task, "")
		require.NoError(t, err)
		var parts []string
		keys := []string{"train", "valid", "test"}
		for k := range segs {
			if k != "train" && k != "valid" && k != "test" {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			if s, ok := segs[k]; ok {
				parts = append(parts, k+"="+s.String())
			}
		}
		if h, ok := GetPath(task, "dataset.kwargs.handler"); ok {
			switch h := h.(type) {
			case string:
				parts = append(parts, "handler="+h)
			case map[string]any:
				kw := h["kwargs"].(map[string]any)
				if e, ok := kw["end_time"]; ok {
					parts = append(parts, fmt.Sprintf("end_time=%s", cellValue(e)))
				} else {
					parts = append(parts, "end_time=absent")
				}
			}
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}
