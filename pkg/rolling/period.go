package rolling

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PeriodUnit is the unit of a calendar-aware rolling step.
type PeriodUnit int

const (
	// Week: ISO weeks, Monday to Sunday.
	Week PeriodUnit = iota + 1
	// Month: calendar months.
	Month
	// Quarter: calendar quarters (January, April, July, October).
	Quarter
	// Year: calendar years.
	Year
)

var unitLetters = map[PeriodUnit]string{Week: "W", Month: "M", Quarter: "Q", Year: "Y"}

// Period is a calendar-aware rolling step: N weeks, months, quarters or
// years. It is not in Qlib, whose step is always a number of trading days
// (users asked for monthly and weekly rolling in microsoft/qlib#1288). Under
// a period step every test window after the first starts on the first
// trading day of a period and ends on the last trading day before the first
// trading day of the period N periods later; the first window starts on the
// (aligned) test start and ends the same way. All other segments move by the
// same number of trading days as the test start. The zero Period means "no
// period": the step is a number of trading days.
type Period struct {
	// N is the number of units per step; it must be > 0.
	N int
	// Unit is the unit.
	Unit PeriodUnit
}

// ParsePeriod parses a period such as "1M", "2W", "1Q" or "1Y" (the letter
// is case-insensitive). A missing number means 1 ("M" is one month).
func ParsePeriod(s string) (Period, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Period{}, fmt.Errorf("empty period")
	}
	var unit PeriodUnit
	switch strings.ToUpper(s[len(s)-1:]) {
	case "W":
		unit = Week
	case "M":
		unit = Month
	case "Q":
		unit = Quarter
	case "Y":
		unit = Year
	default:
		return Period{}, fmt.Errorf("bad period %q: want a number and a unit W, M, Q or Y, such as 1M", s)
	}
	n := 1
	if num := s[:len(s)-1]; num != "" {
		var err error
		n, err = strconv.Atoi(num)
		if err != nil {
			return Period{}, fmt.Errorf("bad period %q: want a number and a unit W, M, Q or Y, such as 1M", s)
		}
	}
	if n <= 0 {
		return Period{}, fmt.Errorf("bad period %q: must be > 0", s)
	}
	return Period{N: n, Unit: unit}, nil
}

// IsZero reports whether p is the zero Period.
func (p Period) IsZero() bool { return p == Period{} }

// String formats p as "1M", "2W", ...; "" for the zero Period.
func (p Period) String() string {
	if p.IsZero() {
		return ""
	}
	return strconv.Itoa(p.N) + unitLetters[p.Unit]
}

// validate checks N and Unit.
func (p Period) validate() error {
	if _, ok := unitLetters[p.Unit]; !ok {
		return fmt.Errorf("unknown period unit %d", p.Unit)
	}
	if p.N <= 0 {
		return fmt.Errorf("period must be > 0, got %d", p.N)
	}
	return nil
}

// periodStart returns the first date of the period containing t.
func (p Period) periodStart(t time.Time) time.Time {
	t = dayOf(t)
	switch p.Unit {
	case Week:
		return t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7))
	case Month:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	case Quarter:
		return time.Date(t.Year(), (t.Month()-1)/3*3+1, 1, 0, 0, 0, 0, time.UTC)
	default:
		return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
}

// boundary returns the first date of the period N periods after the one
// containing t: the exclusive end of a window starting at t.
func (p Period) boundary(t time.Time) time.Time {
	s := p.periodStart(t)
	switch p.Unit {
	case Week:
		return s.AddDate(0, 0, 7*p.N)
	case Month:
		return s.AddDate(0, p.N, 0)
	case Quarter:
		return s.AddDate(0, 3*p.N, 0)
	default:
		return s.AddDate(p.N, 0, 0)
	}
}

// window returns, for a test window starting at calendar index i, the index
// of its last day and the index where the next window starts. The last day
// is -1 (an open end) when the calendar does not cover the whole window,
// like Qlib's get() past the end; next is Len() when the next window starts
// after the calendar.
func (p Period) window(cal *Calendar, i int) (last, next int) {
	b := p.boundary(cal.days[i])
	next = cal.searchStart(b)
	if b.AddDate(0, 0, -1).After(cal.Last()) {
		return -1, next
	}
	return next - 1, next
}
