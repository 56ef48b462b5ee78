package rolling

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// DateLayout is the layout of the dates the package writes into task
// documents and output: "2006-01-02".
const DateLayout = "2006-01-02"

// dateLayouts are the layouts ParseDate accepts, tried in order.
var dateLayouts = []string{
	DateLayout,
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	time.RFC3339Nano,
	"2006/01/02",
	"20060102",
}

// ParseDate parses a date such as "2020-01-02", optionally with a time of day
// ("2020-01-02 15:00:00", RFC 3339). The result is the wall-clock time in
// UTC: the package works with naive dates, as Qlib's pd.Timestamp does. A
// time of day is kept, so "2020-01-02 10:00" aligns as a start to the next
// trading day, as in Qlib.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return wallUTC(t), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date %q", s)
}

// FormatDate formats t as "2006-01-02", or returns "" for the zero Time (an
// open end). A time of day, if any, is dropped.
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(DateLayout)
}

// wallUTC returns the wall clock of t as a UTC time.
func wallUTC(t time.Time) time.Time {
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	return time.Date(y, m, d, hh, mm, ss, t.Nanosecond(), time.UTC)
}

// dayOf returns the date of t at midnight UTC.
func dayOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Calendar is a trading calendar: sorted, distinct trading days (dates at
// midnight UTC). It plays the role of Qlib's future day calendar
// (D.calendar(future=True)), and its LastDataDay plays the role of the
// non-future calendar's last day, which Qlib's transform_end_date uses to
// clamp an open or too late test end.
//
// A Calendar is immutable and safe for concurrent use.
type Calendar struct {
	days []time.Time
	last int // index of the last data day
}

// NewCalendar returns a calendar of the given days. The days are reduced to
// their dates, sorted and deduplicated; the last data day is the last day.
// It returns an error wrapping ErrInvalidConfig when days is empty.
func NewCalendar(days []time.Time) (*Calendar, error) {
	ds := make([]time.Time, 0, len(days))
	for _, d := range days {
		if d.IsZero() {
			return nil, &ConfigError{Err: errors.New("calendar: zero date")}
		}
		ds = append(ds, dayOf(wallUTC(d)))
	}
	slices.SortFunc(ds, func(a, b time.Time) int { return a.Compare(b) })
	ds = slices.CompactFunc(ds, func(a, b time.Time) bool { return a.Equal(b) })
	if len(ds) == 0 {
		return nil, &ConfigError{Err: errors.New("calendar has no trading days")}
	}
	return &Calendar{days: ds, last: len(ds) - 1}, nil
}

// BusinessDays returns a calendar of the weekdays (Monday to Friday) from
// start to end inclusive, minus the holidays. Holidays outside the range are
// ignored. It returns an error wrapping ErrInvalidConfig when the range holds
// no trading day.
func BusinessDays(start, end time.Time, holidays []time.Time) (*Calendar, error) {
	start, end = dayOf(wallUTC(start)), dayOf(wallUTC(end))
	if end.Before(start) {
		return nil, &ConfigError{Err: fmt.Errorf("calendar end %s is before its start %s", FormatDate(end), FormatDate(start))}
	}
	skip := make(map[time.Time]bool, len(holidays))
	for _, h := range holidays {
		skip[dayOf(wallUTC(h))] = true
	}
	var days []time.Time
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday || skip[d] {
			continue
		}
		days = append(days, d)
	}
	if len(days) == 0 {
		return nil, &ConfigError{Err: fmt.Errorf("calendar from %s to %s has no trading days", FormatDate(start), FormatDate(end))}
	}
	return &Calendar{days: days, last: len(days) - 1}, nil
}

// LoadCalendar reads a calendar file; see ReadCalendar for the format.
func LoadCalendar(path string) (*Calendar, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	return ReadCalendar(f, path)
}

// ReadCalendar reads a calendar from r. name is the file name used in error
// messages. The format is either one date per line (Qlib's
// calendars/day.txt) or CSV with a header row that has a "date" column
// (case-insensitive); other columns are ignored. Blank lines and lines
// starting with '#' are skipped. Errors wrap ErrInvalidConfig and name the
// file and line: `cal.txt:12: bad date "2020-13-01"`.
func ReadCalendar(r io.Reader, name string) (*Calendar, error) {
	days, err := ReadDates(r, name)
	if err != nil {
		return nil, err
	}
	cal, err := NewCalendar(days)
	if err != nil {
		return nil, &ConfigError{File: name, Err: errors.New("calendar has no trading days")}
	}
	return cal, nil
}

// LoadDates reads a list of dates (a calendar or a holiday list) from a file
// in ReadCalendar's format.
func LoadDates(path string) ([]time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	return ReadDates(f, path)
}

// ReadDates reads a list of dates in ReadCalendar's format from r, in file
// order. name is the file name used in error messages.
func ReadDates(r io.Reader, name string) ([]time.Time, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	col := -1 // the date column; -1 until the first record is seen
	var days []time.Time
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &ConfigError{File: name, Line: pe.Line, Err: pe.Err}
			}
			return nil, &ConfigError{File: name, Err: err}
		}
		line, _ := cr.FieldPos(0)
		if first {
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
			for i, f := range rec {
				if strings.EqualFold(strings.TrimSpace(f), "date") {
					col = i
					break
				}
			}
			if col >= 0 {
				continue // a CSV header
			}
			if len(rec) > 1 {
				return nil, &ConfigError{File: name, Line: line, Err: errors.New(`want one date per line, or a CSV header with a "date" column`)}
			}
			col = 0
		}
		if col >= len(rec) {
			return nil, &ConfigError{File: name, Line: line, Err: fmt.Errorf("missing date column %d", col+1)}
		}
		s := strings.TrimSpace(rec[col])
		d, err := ParseDate(s)
		if err != nil {
			return nil, &ConfigError{File: name, Line: line, Err: err}
		}
		days = append(days, d)
	}
	return days, nil
}

// WithLastDataDay returns a copy of c whose last data day is the last
// trading day on or before t; the zero Time, or a time after the last
// trading day, means the calendar's last day (the default). The last data
// day is Qlib's non-future calendar end: an open or later test end is
// clamped to it. It returns an error wrapping ErrOutOfCalendar when t is
// before the first trading day.
func (c *Calendar) WithLastDataDay(t time.Time) (*Calendar, error) {
	nc := &Calendar{days: c.days, last: len(c.days) - 1}
	if t.IsZero() {
		return nc, nil
	}
	i := c.searchEnd(t)
	if i < 0 {
		return nil, fmt.Errorf("%w: last data day %s is before the calendar's first day %s", ErrOutOfCalendar, FormatDate(t), FormatDate(c.First()))
	}
	nc.last = i
	return nc, nil
}

// Len returns the number of trading days.
func (c *Calendar) Len() int { return len(c.days) }

// Day returns the i-th trading day; it panics when i is out of range.
func (c *Calendar) Day(i int) time.Time { return c.days[i] }

// Days returns a copy of the trading days.
func (c *Calendar) Days() []time.Time { return slices.Clone(c.days) }

// First returns the first trading day.
func (c *Calendar) First() time.Time { return c.days[0] }

// Last returns the last trading day (Qlib's TimeAdjuster.max()).
func (c *Calendar) Last() time.Time { return c.days[len(c.days)-1] }

// LastDataDay returns the last day with data: the last trading day unless
// set with WithLastDataDay.
func (c *Calendar) LastDataDay() time.Time { return c.days[c.last] }

// searchStart returns the index of the first trading day ≥ t (Python's
// bisect_left); Len() when t is after the last day.
func (c *Calendar) searchStart(t time.Time) int {
	i, _ := slices.BinarySearchFunc(c.days, t, func(d, t time.Time) int { return d.Compare(t) })
	return i
}

// searchEnd returns the index of the last trading day ≤ t (Python's
// bisect_right - 1); -1 when t is before the first day.
func (c *Calendar) searchEnd(t time.Time) int {
	i, found := slices.BinarySearchFunc(c.days, t, func(d, t time.Time) int { return d.Compare(t) })
	if found {
		return i
	}
	return i - 1
}

// fileError wraps an error opening or reading path in a *ConfigError without
// repeating the path.
func fileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &ConfigError{File: path, Err: err}
}
