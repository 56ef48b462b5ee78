package rolling

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTimeAdjusterAlign(t *testing.T) {
	t.Parallel()
	ta := NewTimeAdjuster(testCal(t))

	for _, tc := range []struct {
		in       string
		a        Align
		idx      int
		day      string // "" when AlignTime fails
		contains string
	}{
		{"2020-01-02", AlignStart, 0, "2020-01-02", ""},
		{"2020-01-02", AlignEnd, 0, "2020-01-02", ""},
		{"2020-01-04", AlignStart, 2, "2020-01-06", ""},       // Sat -> Mon
		{"2020-01-04", AlignEnd, 1, "2020-01-03", ""},         // Sat -> Fri
		{"2020-01-20", AlignStart, 12, "2020-01-21", ""},      // holiday -> next day
		{"2020-01-20", AlignEnd, 11, "2020-01-17", ""},        // holiday -> Friday before
		{"2020-01-02 10:00", AlignStart, 1, "2020-01-03", ""}, // a time after the day's midnight
		{"2020-01-02 10:00", AlignEnd, 0, "2020-01-02", ""},
		{"2019-12-01", AlignStart, 0, "2020-01-02", ""},
		{"2019-12-01", AlignEnd, -1, "", "before the calendar's first day"},
		{"2020-04-01", AlignStart, 62, "", "after the calendar's last day"},
		{"2020-04-01", AlignEnd, 61, "2020-03-31", ""},
	} {
		idx, ok := ta.AlignIndex(d(t, tc.in), tc.a)
		require.True(t, ok)
		require.Equal(t, tc.idx, idx, "%s %s", tc.in, tc.a)
		day, err := ta.AlignTime(d(t, tc.in), tc.a)
		if tc.day == "" {
			require.ErrorIs(t, err, ErrOutOfCalendar)
			require.ErrorContains(t, err, tc.contains)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.day, FormatDate(day), "%s %s", tc.in, tc.a)
	}

	// None in, None out.
	_, ok := ta.AlignIndex(time.Time{}, AlignStart)
	require.False(t, ok)
	z, err := ta.AlignTime(time.Time{}, AlignEnd)
	require.NoError(t, err)
	require.True(t, z.IsZero())

	require.Equal(t, "2020-03-31", FormatDate(ta.Max()))
	require.Equal(t, "2020-01-02", FormatDate(ta.Get(0)))
	require.True(t, ta.Get(62).IsZero(), "past the end: open")
	require.True(t, ta.Get(-1).IsZero(), "no wrap-around")
}

func TestTimeAdjusterInterval(t *testing.T) {
	t.Parallel()
	ta := NewTimeAdjuster(testCal(t))
	// Both aligned as starts: Sat 02-01 -> 21, Sun 03-01 -> 40.
	n, err := ta.Interval(d(t, "2020-03-01"), d(t, "2020-02-01"))
	require.NoError(t, err)
	require.Equal(t, 19, n)
	n, err = ta.Interval(d(t, "2020-02-01"), d(t, "2020-02-03"))
	require.NoError(t, err)
	require.Equal(t, 0, n)
	_, err = ta.Interval(time.Time{}, d(t, "2020-02-03"))
	require.Error(t, err)
}

func TestTimeAdjusterAlignSegments(t *testing.T) {
	t.Parallel()
	ta := NewTimeAdjuster(testCal(t))
	got, err := ta.AlignSegments(map[string]Segment{
		"train": {Start: d(t, "2020-01-04"), End: d(t, "2020-01-20")},
		"test":  {Start: d(t, "2020-02-17")},
	})
	require.NoError(t, err)
	require.Equal(t, "[2020-01-06, 2020-01-17]", got["train"].String())
	require.Equal(t, "[2020-02-18, null]", got["test"].String())

	_, err = ta.AlignSegments(map[string]Segment{"test": {Start: d(t, "2020-05-01")}})
	require.EqualError(t, err, "test.0: rolling: date outside the calendar: 2020-05-01 is after the calendar's last day 2020-03-31")

	nested, err := ta.AlignNested(map[string]any{
		"outer": map[string]any{"inner": []any{"2020-01-04", nil}},
		"test":  []string{"2020-02-01", "2020-03-01"},
	})
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"outer": map[string]any{"inner": []any{"2020-01-06", nil}},
		"test":  []any{"2020-02-03", "2020-02-28"},
	}, nested)
	_, err = ta.AlignNested(map[string]any{"outer": map[string]any{"inner": "x"}})
	require.EqualError(t, err, "outer.inner: want a [start, end] list, got string (\"x\")")
}

func TestTimeAdjusterTruncate(t *testing.T) {
	t.Parallel()
	ta := NewTimeAdjuster(testCal(t))
	test := d(t, "2020-02-01") // aligned as a start: 21
	for _, tc := range []struct {
		seg      Segment
		days     int
		want     string
		contains string
	}{
		// Qlib's docstring: label Ref($close,-2)/Ref($close,-1)-1 needs 2+1 days.
		{Segment{d(t, "2020-01-03"), d(t, "2020-02-28")}, 3, "[2020-01-03, 2020-01-29]", ""},  // min(39, 18)
		{Segment{d(t, "2020-01-03"), d(t, "2020-01-10")}, 3, "[2020-01-03, 2020-01-10]", ""},  // already early enough
		{Segment{d(t, "2020-01-30"), d(t, "2020-02-28")}, 3, "[2020-01-29, 2020-01-29]", ""},  // both ends clamped
		{Segment{d(t, "2020-01-04"), d(t, "2020-01-31")}, 1, "[2020-01-06, 2020-01-31]", ""},  // ends the day before
		{Segment{d(t, "2020-01-03"), d(t, "2020-01-31")}, 20, "[2020-01-03, 2020-01-03]", ""}, // 21-20 = index 1: allowed
		{Segment{d(t, "2020-01-02"), d(t, "2020-01-31")}, 3, "", "lands on calendar index 0"},
		{Segment{d(t, "2020-01-03"), time.Time{}}, 3, "", "end: open end"},
	} {
		got, err := ta.Truncate(tc.seg, test, tc.days)
		if tc.want != "" {
			require.NoError(t, err)
			require.Equal(t, tc.want, got.String())
			continue
		}
		require.ErrorContains(t, err, tc.contains)
	}
}

func TestTimeAdjusterShift(t *testing.T) {
	t.Parallel()
	ta := NewTimeAdjuster(testCal(t))
	for _, tc := range []struct {
		seg  Segment
		step int
		rt   RollType
		want string
	}{
		// Unaligned input: start Sat 01-04 -> 2, end Sun 01-12 -> 6.
		{Segment{d(t, "2020-01-04"), d(t, "2020-01-12")}, 5, Sliding, "[2020-01-13, 2020-01-17]"},
		{Segment{d(t, "2020-01-04"), d(t, "2020-01-12")}, 5, Expanding, "[2020-01-06, 2020-01-17]"},
		{Segment{time.Time{}, d(t, "2020-01-12")}, 5, Sliding, "[null, 2020-01-17]"},
		{Segment{d(t, "2020-01-04"), time.Time{}}, 5, Sliding, "[2020-01-13, null]"},
		// End moved past the calendar: open.
		{Segment{d(t, "2020-03-25"), d(t, "2020-03-27")}, 3, Sliding, "[2020-03-30, null]"},
		// Start moved exactly one day past the calendar (57+5 = 62 == len): open, as in Qlib.
		{Segment{d(t, "2020-03-25"), d(t, "2020-03-27")}, 5, Sliding, "[null, null]"},
	} {
		got, err := ta.Shift(tc.seg, tc.step, tc.rt)
		require.NoError(t, err)
		require.Equal(t, tc.want, got.String())
	}
	// 57+6 = 63 > len: Qlib's KeyError.
	_, err := ta.Shift(Segment{d(t, "2020-03-25"), d(t, "2020-03-27")}, 6, Sliding)
	require.ErrorIs(t, err, ErrOutOfCalendar)
	_, err = ta.Shift(Segment{d(t, "2020-03-25"), d(t, "2020-03-27")}, 1, "other")
	require.ErrorIs(t, err, ErrInvalidConfig)
}
