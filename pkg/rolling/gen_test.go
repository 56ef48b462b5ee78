package rolling

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Each case gives the expected windows computed by hand from Qlib's
// algorithm, with calendar indices from the table in helpers_test.go. They
// were also checked against a line-by-line Python port of Qlib's gen.py and
// utils.py.
func TestRollingGenGenerate(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name     string
		gen      RollingGen // Calendar is filled in
		lastData string     // optional last data day
		task     map[string]any
		want     []string
	}{
		{
			// align: train [Sat 01-04 -> 01-06 (2), 01-31 (20)],
			// test [Sat 02-01 -> 02-03 (21), Sun 03-01 -> 02-28 (39)];
			// stop bound 02-28.
			// W1 test [21, 21+10-1=30] = [02-03, 02-14];
			// trunc 2: train ends clamp to min(idx, 21-2=19): [2, 19] = [01-06, 01-30].
			// handler end 02-01 aligns (as a start) to 21 < 30: extended to 02-14.
			// W2 = W1 + 10: train [12, 29], test [31, 40] = [02-18, 03-02];
			// 02-18 <= 02-28, so W2 is kept, unclipped past 02-28.
			// W3 test start 41 = 03-03 > 02-28: stop.
			name: "sliding trunc 2 with weekend ends",
			gen:  RollingGen{Step: 10, Type: Sliding, TruncDays: 2},
			task: tmpl(map[string]any{
				"train": seg("2020-01-04", "2020-01-31"),
				"test":  seg("2020-02-01", "2020-03-01"),
			}, handlerEnd("2020-02-01")),
			want: []string{
				"train=[2020-01-06, 2020-01-30] test=[2020-02-03, 2020-02-14] end_time=2020-02-14",
				"train=[2020-01-21, 2020-02-13] test=[2020-02-18, 2020-03-02] end_time=2020-03-02",
			},
		},
		{
			// align: train [0, 11], valid [Mon 01-20 holiday -> 01-21 (12),
			// Sun 01-26 -> 01-24 (15)], test [16, 33]; stop bound 02-20.
			// Expanding: only train's end moves (+5 each), valid and test slide.
			// W1 test [16, 20]; W2 train [0, 16] valid [17, 20] test [21, 25];
			// W3 train [0, 21] valid [22, 25] test [26, 30];
			// W4 train [0, 26] valid [27, 30] test [31, 35] (02-18 <= 02-20);
			// W5 test start 36 = 02-25 > 02-20: stop. No handler: nothing to modify.
			name: "expanding with valid: only train expands",
			gen:  RollingGen{Step: 5, Type: Expanding},
			task: tmpl(map[string]any{
				"train": seg("2020-01-02", "2020-01-17"),
				"valid": seg("2020-01-20", "2020-01-26"),
				"test":  seg("2020-01-27", "2020-02-20"),
			}, nil),
			want: []string{
				"train=[2020-01-02, 2020-01-17] valid=[2020-01-21, 2020-01-24] test=[2020-01-27, 2020-01-31]",
				"train=[2020-01-02, 2020-01-27] valid=[2020-01-28, 2020-01-31] test=[2020-02-03, 2020-02-07]",
				"train=[2020-01-02, 2020-02-03] valid=[2020-02-04, 2020-02-07] test=[2020-02-10, 2020-02-14]",
				"train=[2020-01-02, 2020-02-10] valid=[2020-02-11, 2020-02-14] test=[2020-02-18, 2020-02-24]",
			},
		},
		{
			// The zero Type is Expanding (Qlib's default) and the zero Step 40:
			// test [21, 60] = [02-03, 03-30]; W2 start 61 = 03-31 > 02-14: stop.
			name: "defaults: expanding, step 40",
			gen:  RollingGen{},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-01-31"),
				"test":  seg("2020-02-03", "2020-02-14"),
			}, nil),
			want: []string{"train=[2020-01-03, 2020-01-31] test=[2020-02-03, 2020-03-30]"},
		},
		{
			// test end 06-30 is past the calendar: aligned as an end to 03-31
			// (61); stop bound 03-31. W1 test [54, 58] = [03-20, 03-26];
			// W2 test [59, 63]: 63 >= 62 days, so the end is open (null) and
			// the handler end becomes null ("up to the latest").
			// W3 start 64 > len 62: Qlib's KeyError, stop.
			name: "test end past the calendar: last window open",
			gen:  RollingGen{Step: 5, Type: Sliding},
			task: tmpl(map[string]any{
				"train": seg("2020-01-02", "2020-02-27"),
				"test":  seg("2020-03-20", "2020-06-30"),
			}, handlerEnd("2020-02-28")),
			want: []string{
				"train=[2020-01-02, 2020-02-27] test=[2020-03-20, 2020-03-26] end_time=2020-03-26",
				"train=[2020-01-09, 2020-03-05] test=[2020-03-27, null] end_time=null",
			},
		},
		{
			// Open test end: the stop bound is the last data day 03-13 (49).
			// W1 test [40, 44] = [03-02, 03-06]; W2 [45, 49] = [03-09, 03-13];
			// W3 start 50 = 03-16 > 03-13: stop.
			name:     "open test end stops at the last data day",
			gen:      RollingGen{Step: 5, Type: Sliding},
			lastData: "2020-03-15", // a Sunday: aligned to Fri 03-13
			task: tmpl(map[string]any{
				"train": seg("2020-01-02", "2020-02-27"),
				"test":  seg("2020-03-02", nil),
			}, handlerEnd("2020-02-28")),
			want: []string{
				"train=[2020-01-02, 2020-02-27] test=[2020-03-02, 2020-03-06] end_time=2020-03-06",
				"train=[2020-01-09, 2020-03-05] test=[2020-03-09, 2020-03-13] end_time=2020-03-13",
			},
		},
		{
			// Open test end, start near the end of the calendar: W1 test
			// [58, 62] has an open end, so does the handler; W2 start 63 >
			// len: stop.
			name: "open test end: first window open",
			gen:  RollingGen{Step: 5, Type: Sliding},
			task: tmpl(map[string]any{
				"train": seg("2020-01-02", "2020-02-27"),
				"test":  seg("2020-03-26", nil),
			}, handlerEnd("2020-02-28")),
			want: []string{"train=[2020-01-02, 2020-02-27] test=[2020-03-26, null] end_time=null"},
		},
		{
			// Step 1 across the 02-17 holiday. test [30, 32]; trunc 1:
			// train ends clamp to 30-1 = 29: [1, 29] = [01-03, 02-13].
			// W2 train [2, 30] test [31, 31] = 02-18 (Tue; Mon is a holiday);
			// W3 train [3, 31] test [32, 32]; W4 start 33 = 02-20 > 02-19: stop.
			name: "step 1, trunc 1 across a holiday",
			gen:  RollingGen{Step: 1, Type: Sliding, TruncDays: 1},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-02-13"),
				"test":  seg("2020-02-14", "2020-02-19"),
			}, nil),
			want: []string{
				"train=[2020-01-03, 2020-02-13] test=[2020-02-14, 2020-02-14]",
				"train=[2020-01-06, 2020-02-14] test=[2020-02-18, 2020-02-18]",
				"train=[2020-01-07, 2020-02-18] test=[2020-02-19, 2020-02-19]",
			},
		},
		{
			// Step 20 > the 5-day test range: one window of exactly 20 days,
			// [21, 40] = [02-03, 03-02], past the test end 02-07.
			name: "step larger than the test range",
			gen:  RollingGen{Step: 20, Type: Sliding},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-01-31"),
				"test":  seg("2020-02-01", "2020-02-07"),
			}, nil),
			want: []string{"train=[2020-01-03, 2020-01-31] test=[2020-02-03, 2020-03-02]"},
		},
		{
			// test [26, 34]; trunc 3 clamps to 26-3 = 23 (02-05):
			// train [1, min(20, 23)] unchanged; valid [16, min(25, 23)=23].
			// W2 slides everything by 5: train [6, 25], valid [21, 28],
			// test [31, 35]: the 3-day gap is kept. W3 start 36 > 34: stop.
			name: "trunc 3 with valid",
			gen:  RollingGen{Step: 5, Type: Sliding, TruncDays: 3},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-01-31"),
				"valid": seg("2020-01-27", "2020-02-07"),
				"test":  seg("2020-02-10", "2020-02-21"),
			}, nil),
			want: []string{
				"train=[2020-01-03, 2020-01-31] valid=[2020-01-27, 2020-02-05] test=[2020-02-10, 2020-02-14]",
				"train=[2020-01-10, 2020-02-07] valid=[2020-02-03, 2020-02-12] test=[2020-02-18, 2020-02-24]",
			},
		},
		{
			// Horizon 5 + 1: trunc 6. test [21, 30]; train [2, 39] overlaps
			// the test and is clamped to 21-6 = 15: [2, 15] = [01-06, 01-24].
			// Expanding: W2 train [2, 20], test [26, 30]; W3 start 31 > 30: stop.
			name: "expanding, trunc horizon+1",
			gen:  RollingGen{Step: 5, Type: Expanding, TruncDays: 5 + 1},
			task: tmpl(map[string]any{
				"train": seg("2020-01-06", "2020-02-28"),
				"test":  seg("2020-02-03", "2020-02-14"),
			}, nil),
			want: []string{
				"train=[2020-01-06, 2020-01-24] test=[2020-02-03, 2020-02-07]",
				"train=[2020-01-06, 2020-01-31] test=[2020-02-10, 2020-02-14]",
			},
		},
		{
			// W1 test [55, 59]; W2 [60, 64]: end open (64 >= 62). The stop
			// bound 03-31 (61) would allow a third window, but its start 65
			// is past the calendar: stop.
			name: "test end on the calendar's last day",
			gen:  RollingGen{Step: 5, Type: Sliding},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-01-31"),
				"test":  seg("2020-03-23", "2020-03-31"),
			}, handlerEnd("2020-03-01")),
			want: []string{
				"train=[2020-01-03, 2020-01-31] test=[2020-03-23, 2020-03-27] end_time=2020-03-27",
				"train=[2020-01-10, 2020-02-07] test=[2020-03-30, null] end_time=null",
			},
		},
		{
			// Step 1 ending exactly on the last day: W3 is [61, 61]; the next
			// start is 62 == len, which Qlib turns into None and then fails
			// comparing None with the test end (TypeError). Rolling ends.
			name: "next start one day past the calendar ends rolling",
			gen:  RollingGen{Step: 1, Type: Sliding},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-01-31"),
				"test":  seg("2020-03-27", "2020-03-31"),
			}, nil),
			want: []string{
				"train=[2020-01-03, 2020-01-31] test=[2020-03-27, 2020-03-27]",
				"train=[2020-01-06, 2020-02-03] test=[2020-03-30, 2020-03-30]",
				"train=[2020-01-07, 2020-02-04] test=[2020-03-31, 2020-03-31]",
			},
		},
		{
			// A cached handler given as a string is left alone (Qlib swallows
			// the TypeError).
			name: "string handler",
			gen:  RollingGen{Step: 5, Type: Sliding},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-01-31"),
				"test":  seg("2020-02-03", "2020-02-14"),
			}, "file:///cache/Alpha158.3584f5f8b4.pkl"),
			want: []string{
				"train=[2020-01-03, 2020-01-31] test=[2020-02-03, 2020-02-07] handler=file:///cache/Alpha158.3584f5f8b4.pkl",
				"train=[2020-01-10, 2020-02-07] test=[2020-02-10, 2020-02-14] handler=file:///cache/Alpha158.3584f5f8b4.pkl",
			},
		},
		{
			// The handler end is never shortened: 12-31 is after every test end.
			name: "handler end later than the test: unchanged",
			gen:  RollingGen{Step: 5, Type: Sliding},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-01-31"),
				"test":  seg("2020-02-03", "2020-02-14"),
			}, handlerEnd("2020-12-31")),
			want: []string{
				"train=[2020-01-03, 2020-01-31] test=[2020-02-03, 2020-02-07] end_time=2020-12-31",
				"train=[2020-01-10, 2020-02-07] test=[2020-02-10, 2020-02-14] end_time=2020-12-31",
			},
		},
		{
			// A null handler end is already unbounded (Qlib: None - int raises
			// TypeError, swallowed).
			name: "null handler end: unchanged",
			gen:  RollingGen{Step: 5, Type: Sliding},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-01-31"),
				"test":  seg("2020-02-03", "2020-02-14"),
			}, handlerEnd(nil)),
			want: []string{
				"train=[2020-01-03, 2020-01-31] test=[2020-02-03, 2020-02-07] end_time=null",
				"train=[2020-01-10, 2020-02-07] test=[2020-02-10, 2020-02-14] end_time=null",
			},
		},
		{
			// No end_time key: unchanged for a dated test end, but an open
			// test end sets end_time to null (Qlib's hk["end_time"] = None).
			name: "handler without end_time, open test end",
			gen:  RollingGen{Step: 5, Type: Sliding},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-01-31"),
				"test":  seg("2020-03-26", nil),
			}, map[string]any{"class": "Alpha158", "kwargs": map[string]any{"start_time": "2020-01-01"}}),
			want: []string{"train=[2020-01-03, 2020-01-31] test=[2020-03-26, null] end_time=null"},
		},
		{
			name: "handler without end_time, dated test end",
			gen:  RollingGen{Step: 5, Type: Sliding},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-01-31"),
				"test":  seg("2020-02-03", "2020-02-07"),
			}, map[string]any{"class": "Alpha158", "kwargs": map[string]any{"start_time": "2020-01-01"}}),
			want: []string{"train=[2020-01-03, 2020-01-31] test=[2020-02-03, 2020-02-07] end_time=absent"},
		},
		{
			// Qlib's ds_extra_mod_func=None: the handler end stays 02-01.
			name: "handler mod disabled",
			gen:  RollingGen{Step: 5, Type: Sliding, NoDatasetMod: true},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-01-31"),
				"test":  seg("2020-02-03", "2020-02-14"),
			}, handlerEnd("2020-02-01")),
			want: []string{
				"train=[2020-01-03, 2020-01-31] test=[2020-02-03, 2020-02-07] end_time=2020-02-01",
				"train=[2020-01-10, 2020-02-07] test=[2020-02-10, 2020-02-14] end_time=2020-02-01",
			},
		},
		{
			// ClipTestEnd (not in Qlib): the first case again, with W2 clipped
			// from 03-02 to the aligned test end 02-28; the handler follows.
			name: "clip test end",
			gen:  RollingGen{Step: 10, Type: Sliding, TruncDays: 2, ClipTestEnd: true},
			task: tmpl(map[string]any{
				"train": seg("2020-01-04", "2020-01-31"),
				"test":  seg("2020-02-01", "2020-03-01"),
			}, handlerEnd("2020-02-01")),
			want: []string{
				"train=[2020-01-06, 2020-01-30] test=[2020-02-03, 2020-02-14] end_time=2020-02-14",
				"train=[2020-01-21, 2020-02-13] test=[2020-02-18, 2020-02-28] end_time=2020-02-28",
			},
		},
		{
			// ClipTestEnd with an open last window: clipped to the stop bound,
			// the last day 03-31, instead of null.
			name: "clip an open window to the last data day",
			gen:  RollingGen{Step: 5, Type: Sliding, ClipTestEnd: true},
			task: tmpl(map[string]any{
				"train": seg("2020-01-02", "2020-02-27"),
				"test":  seg("2020-03-20", nil),
			}, handlerEnd("2020-02-28")),
			want: []string{
				"train=[2020-01-02, 2020-02-27] test=[2020-03-20, 2020-03-26] end_time=2020-03-26",
				"train=[2020-01-09, 2020-03-05] test=[2020-03-27, 2020-03-31] end_time=2020-03-31",
			},
		},
		{
			// Period 1M (not in Qlib): W1 from the aligned start 01-15 (9) to
			// the last day before February's first trading day 02-03 (21):
			// [9, 20]. W2 starts at 21: a move of 12 days for every segment,
			// so train [1+12, 6+12] = [13, 18]; test [21, 39] (March starts at
			// 40). W3: move 19: train [32, 37], test [40, 61] (April is past
			// the calendar, but March is whole). Next start 62: stop.
			name: "period 1M",
			gen:  RollingGen{Type: Sliding, Period: Period{N: 1, Unit: Month}},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-01-10"),
				"test":  seg("2020-01-15", "2020-03-31"),
			}, nil),
			want: []string{
				"train=[2020-01-03, 2020-01-10] test=[2020-01-15, 2020-01-31]",
				"train=[2020-01-22, 2020-01-29] test=[2020-02-03, 2020-02-28]",
				"train=[2020-02-19, 2020-02-26] test=[2020-03-02, 2020-03-31]",
			},
		},
		{
			// Period 1W: W1 [Wed 02-12 (28), Fri 02-14 (30)]; the next week's
			// Monday 02-17 is a holiday, so W2 starts on Tue 02-18 (31) and
			// ends 02-21 (34); W3 [02-24 (35), 02-28 (39)]; W4 start 03-02 >
			// 02-28: stop. Expanding: train's end moves by 3, then 4 days.
			name: "period 1W across a holiday",
			gen:  RollingGen{Type: Expanding, Period: Period{N: 1, Unit: Week}},
			task: tmpl(map[string]any{
				"train": seg("2020-01-03", "2020-02-11"),
				"test":  seg("2020-02-12", "2020-02-28"),
			}, nil),
			want: []string{
				"train=[2020-01-03, 2020-02-11] test=[2020-02-12, 2020-02-14]",
				"train=[2020-01-03, 2020-02-14] test=[2020-02-18, 2020-02-21]",
				"train=[2020-01-03, 2020-02-21] test=[2020-02-24, 2020-02-28]",
			},
		},
		{
			// Custom keys and path (Qlib's meta data selection rolls "train"
			// as the test key): only the "fit" segment expands.
			name: "custom keys and segments path",
			gen:  RollingGen{Step: 5, TestKey: "pred", TrainKey: "fit", SegmentsPath: "data.segs"},
			task: map[string]any{"data": map[string]any{"segs": map[string]any{
				"fit":  seg("2020-01-03", "2020-01-31"),
				"pred": seg("2020-02-03", "2020-02-14"),
			}}},
			want: []string{
				"fit=[2020-01-03, 2020-01-31] pred=[2020-02-03, 2020-02-07]",
				"fit=[2020-01-03, 2020-02-07] pred=[2020-02-10, 2020-02-14]",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cal := testCal(t)
			if tc.lastData != "" {
				var err error
				cal, err = cal.WithLastDataDay(d(t, tc.lastData))
				require.NoError(t, err)
			}
			g := tc.gen
			g.Calendar = cal
			before := CopyTask(tc.task)
			got, err := g.Generate(tc.task)
			require.NoError(t, err)
			if tc.gen.SegmentsPath != "" {
				require.Equal(t, tc.want, customWindows(t, got, tc.gen.SegmentsPath))
			} else {
				require.Equal(t, tc.want, windows(t, got))
			}
			require.Equal(t, before, tc.task, "the template must not be modified")
		})
	}
}

// customWindows renders tasks whose segments live at path.
func customWindows(t *testing.T, tasks []map[string]any, path string) []string {
	var out []string
	for _, task := range tasks {
		segs, err := ReadSegments(task, path)
		require.NoError(t, err)
		line := ""
		for _, k := range sortedKeys(segs) {
			if line != "" {
				line += " "
			}
			line += k + "=" + segs[k].String()
		}
		out = append(out, line)
	}
	return out
}

func TestRollingGenKeepsOtherFields(t *testing.T) {
	t.Parallel()
	task := tmpl(map[string]any{
		"train": seg("2020-01-03", "2020-01-31"),
		"test":  seg("2020-02-03", "2020-02-14"),
	}, handlerEnd("2020-02-01"))
	task["record"] = []any{map[string]any{"class": "SignalRecord", "kwargs": map[string]any{"model": "<MODEL>"}}}
	g := &RollingGen{Calendar: testCal(t), Step: 5}
	got, err := g.Generate(task)
	require.NoError(t, err)
	require.Len(t, got, 2)
	for _, tk := range got {
		require.Equal(t, task["record"], tk["record"])
		require.Equal(t, "LGBModel", tk["model"].(map[string]any)["class"])
		v, _ := GetPath(tk, "dataset.kwargs.handler.kwargs.start_time")
		require.Equal(t, "2020-01-01", v, "handler_mod never touches start_time")
	}
	// The outputs share no maps: editing one leaves the other alone.
	got[0]["record"].([]any)[0].(map[string]any)["class"] = "changed"
	require.Equal(t, "SignalRecord", got[1]["record"].([]any)[0].(map[string]any)["class"])
}

// Where Qlib raises, Generate returns a *PathError naming the path and the
// reason.
func TestRollingGenErrors(t *testing.T) {
	t.Parallel()

	train := seg("2020-01-03", "2020-01-31")
	cases := []struct {
		name     string
		gen      RollingGen
		task     map[string]any
		path     string
		contains string
		is       error
	}{
		{
			name: "no segments", task: map[string]any{"dataset": map[string]any{"kwargs": map[string]any{}}},
			path: "dataset.kwargs.segments", contains: "missing",
		},
		{
			name: "segments not a map", task: map[string]any{"dataset": map[string]any{"kwargs": map[string]any{"segments": "x"}}},
			path: "dataset.kwargs.segments", contains: "want a map of segments",
		},
		{
			name: "no test segment (Qlib KeyError)", task: tmpl(map[string]any{"train": train}, nil),
			path: "dataset.kwargs.segments.test", contains: "missing",
		},
		{
			name: "open test start (Qlib TypeError)", task: tmpl(map[string]any{"train": train, "test": seg(nil, "2020-02-14")}, nil),
			path: "dataset.kwargs.segments.test.0", contains: "open start",
		},
		{
			name: "test start after the calendar (Qlib IndexError)", task: tmpl(map[string]any{"train": train, "test": seg("2020-04-01", nil)}, nil),
			path: "dataset.kwargs.segments.test.0", contains: "2020-04-01 is after the calendar's last day 2020-03-31", is: ErrOutOfCalendar,
		},
		{
			name: "end before the calendar (Qlib wraps to the last day)", task: tmpl(map[string]any{"train": seg("2019-06-01", "2019-12-31"), "test": seg("2020-02-03", nil)}, nil),
			path: "dataset.kwargs.segments.train.1", contains: "2019-12-31 is before the calendar's first day 2020-01-02", is: ErrOutOfCalendar,
		},
		{
			name: "bad date", task: tmpl(map[string]any{"train": train, "test": seg("2020-02-03", "2020-13-01")}, nil),
			path: "dataset.kwargs.segments.test.1", contains: `bad date "2020-13-01"`,
		},
		{
			name: "number as a date", task: tmpl(map[string]any{"train": train, "test": seg(uint64(20200203), nil)}, nil),
			path: "dataset.kwargs.segments.test.0", contains: "want a date string or null",
		},
		{
			name: "segment not a pair", task: tmpl(map[string]any{"train": train, "test": []any{"2020-02-03"}}, nil),
			path: "dataset.kwargs.segments.test", contains: "want a [start, end] list, got 1 elements",
		},
		{
			name: "truncating an open end (Qlib TypeError)", gen: RollingGen{TruncDays: 2},
			task: tmpl(map[string]any{"train": seg(nil, "2020-01-31"), "test": seg("2020-02-03", nil)}, nil),
			path: "dataset.kwargs.segments.train.0", contains: "open start",
		},
		{
			// test start 02-03 (21); trunc 2 gives min(0, 19) = 0 for a train
			// starting on the calendar's first day: Qlib's assert idx > 0 fails.
			name: "truncation to calendar index 0 (Qlib AssertionError)", gen: RollingGen{TruncDays: 2},
			task: tmpl(map[string]any{"train": seg("2020-01-02", "2020-01-31"), "test": seg("2020-02-03", nil)}, nil),
			path: "dataset.kwargs.segments.train.0", contains: "lands on calendar index 0", is: ErrOutOfCalendar,
		},
		{
			// test start 01-06 (2); trunc 3 gives 2-3 = -1.
			name: "truncation before the calendar", gen: RollingGen{TruncDays: 3},
			task: tmpl(map[string]any{"train": seg("2020-01-02", "2020-01-03"), "test": seg("2020-01-06", nil)}, nil),
			path: "dataset.kwargs.segments.train.0", contains: "lands on calendar index -1", is: ErrOutOfCalendar,
		},
		{
			name: "handler kwargs not a map (Qlib AttributeError)",
			task: tmpl(map[string]any{"train": train, "test": seg("2020-02-03", nil)}, map[string]any{"class": "H", "kwargs": "oops"}),
			path: "dataset.kwargs.handler.kwargs", contains: "want a map",
		},
		{
			name: "bad handler end (Qlib ValueError)",
			task: tmpl(map[string]any{"train": train, "test": seg("2020-02-03", "2020-02-14")}, handlerEnd("soon")),
			path: "dataset.kwargs.handler.kwargs.end_time", contains: `bad date "soon"`,
		},
		{
			name: "clip before the start", gen: RollingGen{ClipTestEnd: true},
			task: tmpl(map[string]any{"train": train, "test": seg("2020-02-01", "2020-02-02")}, nil),
			path: "dataset.kwargs.segments.test", contains: "before its start",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := tc.gen
			g.Calendar = testCal(t)
			_, err := g.Generate(tc.task)
			require.Error(t, err)
			var pe *PathError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.path, pe.Path)
			require.ErrorContains(t, err, tc.contains)
			require.ErrorIs(t, err, ErrInvalidTemplate)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
		})
	}
}

func TestRollingGenInvalidSettings(t *testing.T) {
	t.Parallel()
	cal := testCal(t)
	task := tmpl(map[string]any{"test": seg("2020-02-03", nil)}, nil)
	for _, tc := range []struct {
		gen  RollingGen
		want string
	}{
		{RollingGen{}, "Calendar: a trading calendar is required"},
		{RollingGen{Calendar: cal, Step: -1}, "Step: must be > 0, got -1"},
		{RollingGen{Calendar: cal, Type: "rolling"}, `Type: unknown roll type "rolling"`},
		{RollingGen{Calendar: cal, TruncDays: -2}, "TruncDays: must be ≥ 0, got -2"},
		{RollingGen{Calendar: cal, Period: Period{N: 0, Unit: Month}}, "Period: period must be > 0"},
	} {
		_, err := tc.gen.Generate(task)
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.ErrorContains(t, err, tc.want)
		require.ErrorIs(t, tc.gen.Validate(), ErrInvalidConfig)
	}
}

func TestFollowingTasks(t *testing.T) {
	t.Parallel()
	cal := testCal(t)
	g := &RollingGen{Calendar: cal, Step: 10, Type: Sliding, TruncDays: 2}
	task := tmpl(map[string]any{
		"train": seg("2020-01-04", "2020-01-31"),
		"test":  seg("2020-02-01", "2020-03-01"),
	}, handlerEnd("2020-02-01"))
	all, err := g.Generate(task)
	require.NoError(t, err)

	t.Run("successors of the first window are the rest", func(t *testing.T) {
		t.Parallel()
		// Qlib's generate is [first] + gen_following_tasks(first, stop bound).
		rest, err := g.FollowingTasks(all[0], d(t, "2020-02-28"))
		require.NoError(t, err)
		require.Equal(t, all[1:], rest)
	})

	t.Run("later end keeps rolling; zero means the last data day", func(t *testing.T) {
		t.Parallel()
		// From W2 (test [31, 40]): W3 [41, 50], W4 [51, 60], W5 [61, 70]:
		// 03-31 <= 03-31 and the end is open. W6 start 71 > len: stop.
		more, err := g.FollowingTasks(all[1], time.Time{})
		require.NoError(t, err)
		require.Equal(t, []string{
			"train=[2020-02-04, 2020-02-28] test=[2020-03-03, 2020-03-16] end_time=2020-03-16",
			"train=[2020-02-19, 2020-03-13] test=[2020-03-17, 2020-03-30] end_time=2020-03-30",
			"train=[2020-03-04, 2020-03-27] test=[2020-03-31, null] end_time=null",
		}, windows(t, more))
	})

	t.Run("the stop compares the new test start only", func(t *testing.T) {
		t.Parallel()
		// W3 starts on 03-03: an end of 03-03 still yields it, 03-02 does not.
		more, err := g.FollowingTasks(all[1], d(t, "2020-03-03"))
		require.NoError(t, err)
		require.Len(t, more, 1)
		more, err = g.FollowingTasks(all[1], d(t, "2020-03-02"))
		require.NoError(t, err)
		require.Empty(t, more)
	})

	t.Run("unaligned task segments are aligned by the shift", func(t *testing.T) {
		t.Parallel()
		// shift aligns the start as a start and the end as an end: train
		// [Sat 01-04 -> 2, 01-31 (20)] + 5 = [7, 25]; test [Sat 02-01 -> 21,
		// Sun 02-09 -> 25] + 5 = [26, 30].
		raw := tmpl(map[string]any{
			"train": seg("2020-01-04", "2020-01-31"),
			"test":  seg("2020-02-01", "2020-02-09"),
		}, nil)
		more, err := (&RollingGen{Calendar: cal, Step: 5, Type: Sliding}).FollowingTasks(raw, d(t, "2020-02-10"))
		require.NoError(t, err)
		require.Equal(t, []string{"train=[2020-01-13, 2020-02-07] test=[2020-02-10, 2020-02-14]"}, windows(t, more))
	})

	t.Run("clipped windows are sized from their start", func(t *testing.T) {
		t.Parallel()
		cg := *g
		cg.ClipTestEnd = true
		clipped, err := cg.Generate(task)
		require.NoError(t, err)
		// W2 was clipped to [02-18, 02-28]; its successor is [41, 50], not
		// the clipped end + 10.
		more, err := cg.FollowingTasks(clipped[1], d(t, "2020-03-03"))
		require.NoError(t, err)
		require.Equal(t, []string{"train=[2020-02-04, 2020-02-28] test=[2020-03-03, 2020-03-03] end_time=2020-03-03"}, windows(t, more))
	})

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		_, err := g.FollowingTasks(tmpl(map[string]any{"train": seg("2020-01-03", "2020-01-31")}, nil), time.Time{})
		require.ErrorIs(t, err, ErrInvalidTemplate)
		require.ErrorContains(t, err, "dataset.kwargs.segments.test: missing")
		_, err = g.FollowingTasks(tmpl(map[string]any{"test": seg(nil, "2020-01-31")}, nil), time.Time{})
		require.ErrorContains(t, err, "dataset.kwargs.segments.test.0: open start")
	})
}

func TestFollowing(t *testing.T) {
	t.Parallel()
	cal := testCal(t)
	g := &RollingGen{Calendar: cal, Step: 10, Type: Sliding}
	lgb := tmpl(map[string]any{"train": seg("2020-01-03", "2020-01-31"), "test": seg("2020-02-03", "2020-02-28")}, nil)
	xgb := CopyTask(lgb)
	xgb["model"] = map[string]any{"class": "XGBModel"}
	// The pool holds both models' windows up to 02-28: test [21, 30] and
	// [31, 40] for each.
	existing, err := Generate([]map[string]any{lgb, xgb}, g)
	require.NoError(t, err)
	require.Len(t, existing, 4)

	t.Run("extends every latest task", func(t *testing.T) {
		t.Parallel()
		// Latest: train [11, 30], test [31, 40] = [02-18, 03-02] (LGB and
		// XGB). Up to 03-20: train [21, 40] test [41, 50], then train
		// [31, 50] test [51, 60] (start 03-17 <= 03-20), for each model,
		// LGB first.
		got, err := g.Following(existing, d(t, "2020-03-20"))
		require.NoError(t, err)
		require.Len(t, got, 4)
		var models []string
		for _, tk := range got {
			models = append(models, tk["model"].(map[string]any)["class"].(string))
		}
		require.Equal(t, []string{"LGBModel", "LGBModel", "XGBModel", "XGBModel"}, models)
		require.Equal(t, []string{
			"train=[2020-02-03, 2020-03-02] test=[2020-03-03, 2020-03-16]",
			"train=[2020-02-18, 2020-03-16] test=[2020-03-17, 2020-03-30]",
		}, windows(t, got[:2]))
	})

	t.Run("end clamped to the last data day", func(t *testing.T) {
		t.Parallel()
		late, err := g.Following(existing, d(t, "2021-01-01"))
		require.NoError(t, err)
		zero, err := g.Following(existing, time.Time{})
		require.NoError(t, err)
		require.Equal(t, zero, late)
		require.Len(t, zero, 6) // starts 03-03, 03-17, 03-31 per model
	})

	t.Run("nothing due", func(t *testing.T) {
		t.Parallel()
		got, err := g.Following(existing, d(t, "2020-03-02"))
		require.NoError(t, err)
		require.Empty(t, got)
		got, err = g.Following(nil, time.Time{})
		require.NoError(t, err)
		require.Empty(t, got)
	})

	t.Run("an open end is the latest", func(t *testing.T) {
		t.Parallel()
		open := tmpl(map[string]any{"train": seg("2020-01-03", "2020-01-31"), "test": seg("2020-02-18", nil)}, nil)
		open["model"] = map[string]any{"class": "Open"}
		got, err := g.Following(append(existing, open), d(t, "2020-03-03"))
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, "Open", got[0]["model"].(map[string]any)["class"])
	})

	t.Run("bad existing task", func(t *testing.T) {
		t.Parallel()
		_, err := g.Following([]map[string]any{existing[0], {"model": "x"}}, time.Time{})
		require.ErrorIs(t, err, ErrInvalidTemplate)
		require.ErrorContains(t, err, "existing task 1: dataset.kwargs.segments: missing")
	})
}

func TestGenerateCartesianOrder(t *testing.T) {
	t.Parallel()
	// Qlib's docstring: 3 templates, A gives 2 tasks per template, B gives 3:
	// 3*2*3 = 18 tasks, grouped by template, then A's output, then B's.
	tag := func(key string, n int) Generator {
		return GeneratorFunc(func(task map[string]any) ([]map[string]any, error) {
			var out []map[string]any
			for i := range n {
				c := CopyTask(task)
				c["name"] = fmt.Sprintf("%s%s%d", c["name"], key, i)
				out = append(out, c)
			}
			return out, nil
		})
	}
	templates := []map[string]any{{"name": "a"}, {"name": "b"}, {"name": "c"}}
	got, err := Generate(templates, tag("A", 2), tag("B", 3))
	require.NoError(t, err)
	var names []string
	for _, tk := range got {
		names = append(names, tk["name"].(string))
	}
	require.Equal(t, []string{
		"aA0B0", "aA0B1", "aA0B2", "aA1B0", "aA1B1", "aA1B2",
		"bA0B0", "bA0B1", "bA0B2", "bA1B0", "bA1B1", "bA1B2",
		"cA0B0", "cA0B1", "cA0B2", "cA1B0", "cA1B1", "cA1B2",
	}, names)
	require.Equal(t, "a", templates[0]["name"], "templates are not modified")

	t.Run("no generators: copies of the templates", func(t *testing.T) {
		t.Parallel()
		got, err := Generate(templates)
		require.NoError(t, err)
		require.Equal(t, templates, got)
		got[0]["name"] = "z"
		require.Equal(t, "a", templates[0]["name"])
	})

	t.Run("errors name the template and generator", func(t *testing.T) {
		t.Parallel()
		boom := GeneratorFunc(func(task map[string]any) ([]map[string]any, error) {
			if task["name"] == "bA1" {
				return nil, errors.New("boom")
			}
			return []map[string]any{task}, nil
		})
		_, err := Generate(templates, tag("A", 2), boom)
		var ge *GenerateError
		require.ErrorAs(t, err, &ge)
		require.Equal(t, 1, ge.Template)
		require.Equal(t, 1, ge.Generator)
		require.EqualError(t, err, "template 1: generator 1: boom")
	})
}

func TestGenerateRollingThenHorizons(t *testing.T) {
	t.Parallel()
	cal := testCal(t)
	rg := &RollingGen{Calendar: cal, Step: 10, Type: Sliding}
	mh := &MultiHorizonGen{Calendar: cal, Horizons: []int{1, 3}, LabelLeakN: 1}
	task := tmpl(map[string]any{"train": seg("2020-01-03", "2020-01-31"), "test": seg("2020-02-03", "2020-02-28")}, nil)
	got, err := Generate([]map[string]any{task}, rg, mh)
	require.NoError(t, err)
	// Two windows x two horizons, grouped by window. Truncation by
	// horizon + 1: window 1 (test start 21): 21-2 = 19, 21-4 = 17;
	// window 2 (train [11, 30], test start 31): 29, 27.
	require.Equal(t, []string{
		"train=[2020-01-03, 2020-01-30] test=[2020-02-03, 2020-02-14]",
		"train=[2020-01-03, 2020-01-28] test=[2020-02-03, 2020-02-14]",
		"train=[2020-01-17, 2020-02-13] test=[2020-02-18, 2020-03-02]",
		"train=[2020-01-17, 2020-02-11] test=[2020-02-18, 2020-03-02]",
	}, windows(t, got))
}
