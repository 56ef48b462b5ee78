package rolling

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseDate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Time{
		"2020-01-02":           time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC),
		" 2020-01-02 ":         time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC),
		"2020/01/02":           time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC),
		"20200102":             time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC),
		"2020-01-02 15:04:05":  time.Date(2020, 1, 2, 15, 4, 5, 0, time.UTC),
		"2020-01-02T15:04":     time.Date(2020, 1, 2, 15, 4, 0, 0, time.UTC),
		"2020-01-02T15:04:05Z": time.Date(2020, 1, 2, 15, 4, 5, 0, time.UTC),
		// The wall clock is kept, as pandas does for a naive timestamp.
		"2020-01-02T15:04:05+08:00": time.Date(2020, 1, 2, 15, 4, 5, 0, time.UTC),
		"2020-01-02T00:00:00+08:00": time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC),
		"2020-01-02T09:30:00":       time.Date(2020, 1, 2, 9, 30, 0, 0, time.UTC),
		"2020-01-02 09:30:00.5":     time.Date(2020, 1, 2, 9, 30, 0, 5e8, time.UTC),
	} {
		got, err := ParseDate(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "2020-13-01", "2020-02-30", "tomorrow", "2020-1-2x", "02.01.2020"} {
		_, err := ParseDate(bad)
		require.ErrorContains(t, err, "bad date", bad)
	}
	require.Equal(t, "2020-01-02", FormatDate(time.Date(2020, 1, 2, 23, 0, 0, 0, time.UTC)))
	require.Empty(t, FormatDate(time.Time{}))
}

func TestReadCalendar(t *testing.T) {
	t.Parallel()
	days := func(c *Calendar) []string {
		var out []string
		for _, d := range c.Days() {
			out = append(out, FormatDate(d))
		}
		return out
	}

	t.Run("one date per line", func(t *testing.T) {
		t.Parallel()
		// Qlib's calendars/day.txt, plus a comment, blank lines, an
		// unsorted and a duplicate line.
		cal, err := ReadCalendar(strings.NewReader("# trading days\n2020-01-03\n\n2020-01-02\n2020-01-06 00:00:00\n2020-01-03\n"), "day.txt")
		require.NoError(t, err)
		require.Equal(t, []string{"2020-01-02", "2020-01-03", "2020-01-06"}, days(cal))
		require.Equal(t, "2020-01-06", FormatDate(cal.LastDataDay()))
	})

	t.Run("CSV with a date column", func(t *testing.T) {
		t.Parallel()
		cal, err := ReadCalendar(strings.NewReader("\ufeffexchange, Date ,open\nSSE,2020-01-02,1\nSSE,2020-01-03,1\n"), "cal.csv")
		require.NoError(t, err)
		require.Equal(t, []string{"2020-01-02", "2020-01-03"}, days(cal))
	})

	t.Run("errors name the file and line", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ in, want string }{
			{"2020-01-02\n2020-01-03\n\n2020-13-01\n", `cal.txt:4: bad date "2020-13-01"`},
			{"date,open\n2020-01-02,1\nx,1\n", `cal.txt:3: bad date "x"`},
			{"date,open\n2020-01-02,1\n", ""}, // fine
			{"2020-01-02,1\n", `cal.txt:1: want one date per line, or a CSV header with a "date" column`},
			{"open,date\n1\n", "cal.txt:2: missing date column 2"},
			{"date\n", "cal.txt: calendar has no trading days"},
			{"", "cal.txt: calendar has no trading days"},
			{"2020-01-02\n\"2020-01-03\n", "cal.txt:2: extraneous or missing \" in quoted-field"},
		} {
			_, err := ReadCalendar(strings.NewReader(tc.in), "cal.txt")
			if tc.want == "" {
				require.NoError(t, err)
				continue
			}
			require.ErrorIs(t, err, ErrInvalidConfig, tc.in)
			require.ErrorContains(t, err, tc.want)
		}
	})

	t.Run("load from a file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "day.txt")
		require.NoError(t, os.WriteFile(path, []byte("2020-01-02\n2020-01-03\n"), 0o600))
		cal, err := LoadCalendar(path)
		require.NoError(t, err)
		require.Equal(t, 2, cal.Len())
		_, err = LoadCalendar(filepath.Join(t.TempDir(), "missing.txt"))
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestBusinessDays(t *testing.T) {
	t.Parallel()
	// Fri 2020-12-25 and Fri 2021-01-01 are holidays; 2019-12-31 is
	// outside the range and ignored.
	cal, err := BusinessDays(d(t, "2020-12-24"), d(t, "2021-01-05"),
		[]time.Time{d(t, "2020-12-25"), d(t, "2021-01-01"), d(t, "2019-12-31")})
	require.NoError(t, err)
	var got []string
	for _, x := range cal.Days() {
		got = append(got, FormatDate(x))
	}
	require.Equal(t, []string{"2020-12-24", "2020-12-28", "2020-12-29", "2020-12-30", "2020-12-31", "2021-01-04", "2021-01-05"}, got)

	_, err = BusinessDays(d(t, "2020-12-26"), d(t, "2020-12-27"), nil)
	require.ErrorContains(t, err, "has no trading days")
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = BusinessDays(d(t, "2020-12-26"), d(t, "2020-12-20"), nil)
	require.ErrorContains(t, err, "before its start")
	_, err = NewCalendar(nil)
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func TestWithLastDataDay(t *testing.T) {
	t.Parallel()
	cal := testCal(t)
	require.Equal(t, "2020-03-31", FormatDate(cal.LastDataDay()))
	for in, want := range map[string]string{
		"2020-03-15": "2020-03-13", // a Sunday: the Friday before
		"2020-02-17": "2020-02-14", // a holiday
		"2020-01-02": "2020-01-02", // the first day
		"2021-01-01": "2020-03-31", // past the calendar: the last day
	} {
		c2, err := cal.WithLastDataDay(d(t, in))
		require.NoError(t, err)
		require.Equal(t, want, FormatDate(c2.LastDataDay()), in)
		require.Equal(t, "2020-03-31", FormatDate(cal.LastDataDay()), "the original is unchanged")
	}
	c2, err := cal.WithLastDataDay(time.Time{})
	require.NoError(t, err)
	require.Equal(t, cal.Last(), c2.LastDataDay())
	_, err = cal.WithLastDataDay(d(t, "2020-01-01"))
	require.ErrorIs(t, err, ErrOutOfCalendar)
}
