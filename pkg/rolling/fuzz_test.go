package rolling

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzRollingGen checks generator invariants on random calendars, templates
// and settings:
//
//   - the first test window starts on the aligned test start;
//   - test windows are contiguous and non-overlapping, and each is exactly
//     step trading days long (or one period), except the last, which may be
//     open (it runs past the calendar) or, with ClipTestEnd, shorter and
//     ending on the stop bound;
//   - every window after the first starts on or before the stop bound (the
//     aligned test end, or the last data day when that is open or later),
//     and the next one would not;
//   - every end of every non-test segment is at least trunc days before its
//     test start;
//   - under Expanding the train start never moves, under Sliding the train
//     keeps its size;
//   - the output is deterministic and the template is not modified;
//   - failures are *PathErrors, never panics.
func FuzzRollingGen(f *testing.F) {
	// calOff, calLen, holidaySeed, lastOff, step, sliding, trunc,
	// trainOff, trainLen, testOff, testLen, openEnd, clip, period
	f.Add(uint8(0), uint16(90), uint64(1), uint16(0), uint8(10), true, uint8(2), uint8(3), uint8(30), uint8(12), uint16(40), false, false, uint8(0))
	f.Add(uint8(3), uint16(200), uint64(7), uint16(120), uint8(1), false, uint8(1), uint8(10), uint8(60), uint8(5), uint16(15), true, false, uint8(0))
	f.Add(uint8(5), uint16(60), uint64(9), uint16(1), uint8(40), true, uint8(3), uint8(2), uint8(20), uint8(15), uint16(5), false, true, uint8(0))
	f.Add(uint8(1), uint16(250), uint64(3), uint16(0), uint8(7), false, uint8(6), uint8(8), uint8(90), uint8(20), uint16(150), true, true, uint8(0))
	f.Add(uint8(2), uint16(150), uint64(11), uint16(0), uint8(5), true, uint8(0), uint8(1), uint8(45), uint8(10), uint16(80), false, false, uint8(2))
	f.Add(uint8(6), uint16(180), uint64(5), uint16(90), uint8(5), false, uint8(4), uint8(4), uint8(70), uint8(0), uint16(100), true, true, uint8(1))
	f.Add(uint8(0), uint16(40), uint64(2), uint16(0), uint8(3), true, uint8(0), uint8(2), uint8(10), uint8(11), uint16(30), false, false, uint8(3))

	f.Fuzz(func(t *testing.T, calOff uint8, calLen uint16, holidaySeed uint64, lastOff uint16, stepN uint8,
		sliding bool, trunc uint8, trainOff, trainLen, testOff uint8, testLen uint16, openEnd, clip bool, period uint8) {
		// The calendar: 20..319 days of business days with ~1/15 holidays.
		start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(calOff%7))
		n := 20 + int(calLen%300)
		end := start.AddDate(0, 0, n)
		rng := rand.New(rand.NewPCG(holidaySeed, 0))
		var holidays []time.Time
		for i := range n {
			if rng.IntN(15) == 0 {
				holidays = append(holidays, start.AddDate(0, 0, i))
			}
		}
		cal, err := BusinessDays(start, end, holidays)
		if err != nil {
			t.Skip()
		}
		if lastOff%3 != 0 {
			if cal, err = cal.WithLastDataDay(start.AddDate(0, 0, int(lastOff)%(n+10))); err != nil {
				t.Skip()
			}
		}

		// The template: train, an optional valid, test.
		day := func(off int) string { return FormatDate(start.AddDate(0, 0, off)) }
		ts := int(trainOff % 60)
		te := ts + int(trainLen%120)
		tst := te + int(testOff%30) - 10
		segs := map[string]any{
			"train": seg(day(ts), day(te)),
			"test":  seg(day(tst), day(tst+int(testLen%200))),
		}
		if openEnd {
			segs["test"] = seg(day(tst), nil)
		}
		if trainLen%2 == 1 {
			segs["valid"] = seg(day(te-5), day(te+3))
		}
		task := tmpl(segs, handlerEnd(day(te)))

		g := &RollingGen{Calendar: cal, Step: 1 + int(stepN%60), Type: Expanding, TruncDays: int(trunc % 10), ClipTestEnd: clip}
		if sliding {
			g.Type = Sliding
		}
		switch period % 4 {
		case 1:
			g.Period = Period{N: 1, Unit: Week}
		case 2:
			g.Period = Period{N: 1, Unit: Month}
		case 3:
			g.Period = Period{N: 2, Unit: Week}
		}

		before := CopyTask(task)
		tasks, err := g.Generate(task)
		require.Equal(t, before, task, "template modified")
		if err != nil {
			var pe *PathError
			require.ErrorAs(t, err, &pe, "unexpected error type: %v", err)
			return
		}
		again, err := g.Generate(task)
		require.NoError(t, err)
		require.Equal(t, tasks, again, "not deterministic")
		require.NotEmpty(t, tasks)

		ta := NewTimeAdjuster(cal)
		idx := func(tm time.Time) int {
			i, ok := ta.AlignIndex(tm, AlignStart)
			require.True(t, ok)
			require.Equal(t, tm, cal.Day(i), "not a trading day")
			return i
		}
		// The stop bound, as Qlib's transform_end_date computes it.
		raw, _ := ReadSegments(task, "")
		bound := cal.LastDataDay()
		if e := raw["test"].End; !e.IsZero() {
			ae, err := ta.AlignTime(e, AlignEnd)
			require.NoError(t, err) // Generate succeeded
			if !ae.After(bound) {
				bound = ae
			}
		}
		boundIdx := cal.searchEnd(bound)
		firstStart, err := ta.AlignTime(raw["test"].Start, AlignStart)
		require.NoError(t, err)

		var prevTest, prevTrain Segment
		for k, tk := range tasks {
			s, err := ReadSegments(tk, "")
			require.NoError(t, err)
			test := s["test"]
			si := idx(test.Start)
			last := k == len(tasks)-1
			if k == 0 {
				// The first window is unconditional, even past the stop bound.
				require.Equal(t, firstStart, test.Start, "first window start")
			} else {
				require.LessOrEqual(t, si, boundIdx, "window %d starts after the stop bound", k)
				require.False(t, prevTest.End.IsZero(), "window %d follows an open window", k)
				require.Equal(t, idx(prevTest.End)+1, si, "windows %d and %d not contiguous", k-1, k)
			}
			// The window's length.
			wantEnd := si + g.Step - 1
			if !g.Period.IsZero() {
				wantEnd, _ = g.Period.window(cal, si)
				if k > 0 {
					require.True(t, g.Period.periodStart(test.Start).After(cal.Day(si-1)), "window %d does not start a period", k)
				}
			}
			switch {
			case test.End.IsZero():
				require.False(t, clip, "open window with ClipTestEnd")
				require.True(t, last, "open window %d is not the last", k)
				require.True(t, wantEnd < 0 || wantEnd >= cal.Len(), "window %d is open but fits the calendar", k)
			case clip && last && (wantEnd < 0 || wantEnd >= cal.Len() || wantEnd > boundIdx):
				require.Equal(t, boundIdx, idx(test.End), "last window not clipped to the stop bound")
			default:
				require.Equal(t, wantEnd, idx(test.End), "window %d has the wrong length", k)
			}
			// Truncation gap.
			if g.TruncDays > 0 {
				for key, sg := range s {
					if key == "test" {
						continue
					}
					require.LessOrEqual(t, idx(sg.Start), si-g.TruncDays, "%s start in window %d", key, k)
					require.LessOrEqual(t, idx(sg.End), si-g.TruncDays, "%s end in window %d", key, k)
				}
			}
			// Expanding keeps the train start; sliding keeps the train size.
			if k > 0 {
				train := s["train"]
				if g.Type == Expanding {
					require.Equal(t, prevTrain.Start, train.Start)
				} else if !train.End.IsZero() && !prevTrain.End.IsZero() && !train.Start.IsZero() {
					require.Equal(t, idx(prevTrain.End)-idx(prevTrain.Start), idx(train.End)-idx(train.Start))
				}
			}
			prevTest, prevTrain = test, s["train"]
		}
		// The window after the last would start after the stop bound or
		// after the calendar, or another sliding segment would start more
		// than a day past the calendar (Qlib's KeyError stops rolling).
		if !prevTest.End.IsZero() && idx(prevTest.End)+1 <= boundIdx {
			s, _ := ReadSegments(tasks[len(tasks)-1], "")
			delta := idx(prevTest.End) + 1 - idx(prevTest.Start)
			stopped := false
			for key, sg := range s {
				if key == "test" || sg.Start.IsZero() || (key == "train" && g.Type == Expanding) {
					continue
				}
				if idx(sg.Start)+delta > cal.Len() {
					stopped = true
				}
			}
			require.True(t, stopped, "rolling stopped early")
		}
	})
}
