package rolling

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// followingConfig is a gen config whose template is an already generated
// window (test [02-03, 02-14], trading days 21..30 of testCal's calendar)
// with its handler end extended to the test end, as Generate leaves it.
func followingConfig(test, until, gens string) string {
	return `calendar: {start: 2020-01-01, end: 2020-03-31, holidays: [2020-01-01, 2020-01-20, 2020-02-17]}
following_until: ` + until + `
tasks:
  - model: {class: M}
    dataset:
      kwargs:
        handler: {kwargs: {end_time: 2020-02-14}}
        segments:
          train: [2020-01-03, 2020-01-31]
          test: ` + test + `
generators:
` + gens
}

func parseInDir(t *testing.T, yaml string) (*GenConfig, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o644))
	return ParseGenConfig([]byte(yaml), path, true)
}

// TestGenConfigFollowingUntil checks following_until against Qlib's
// gen_following_tasks arithmetic, computed by hand on testCal's calendar:
// trading days 0 (01-02) to 61 (03-31); 21 is 02-03, 31 02-18, 41 03-03.
func TestGenConfigFollowingUntil(t *testing.T) {
	t.Parallel()
	sliding10 := "  - {type: rolling, step: 10, rtype: sliding}\n"
	for _, tc := range []struct {
		name, test, until, gens string
		want                    []string
	}{
		{
			// The template's test is days [21, 30]; each successor shifts
			// every segment by 10 while its test start is on or before the
			// end: [31, 40] starts 02-18 <= 03-02, [41, 50] (03-03) does not.
			name: "closed test end", test: "[2020-02-03, 2020-02-14]", until: "2020-03-02", gens: sliding10,
			want: []string{"train=[2020-01-17, 2020-02-14] test=[2020-02-18, 2020-03-02] end_time=2020-03-02"},
		},
		{
			name: "end before the first shift", test: "[2020-02-03, 2020-02-14]", until: "2020-02-14", gens: sliding10,
		},
		{
			// Up to the last data day (03-31, day 61): [31, 40], [41, 50],
			// [51, 60], then [61, 70] starting 03-31, open as it runs past
			// the calendar.
			name: "end after the calendar is the last data day", test: "[2020-02-03, 2020-02-14]", until: "2021-01-01", gens: sliding10,
			want: []string{
				"train=[2020-01-17, 2020-02-14] test=[2020-02-18, 2020-03-02] end_time=2020-03-02",
				"train=[2020-02-03, 2020-03-02] test=[2020-03-03, 2020-03-16] end_time=2020-03-16",
				"train=[2020-02-18, 2020-03-16] test=[2020-03-17, 2020-03-30] end_time=2020-03-30",
				"train=[2020-03-03, 2020-03-30] test=[2020-03-31, null] end_time=null",
			},
		},
		{
			// An open test end: the successor's test is open too, and the
			// handler end becomes null (Qlib's end_time = None).
			name: "open test end", test: "[2020-02-03, null]", until: "2020-02-20", gens: sliding10,
			want: []string{"train=[2020-01-17, 2020-02-14] test=[2020-02-18, null] end_time=null"},
		},
		{
			// A calendar step rolls by months, not by a fixed number of
			// trading days: March is one window.
			name: "calendar step", test: "[2020-02-03, 2020-02-28]", until: "2020-03-31",
			gens: "  - {type: rolling, step: 1M}\n",
			want: []string{"train=[2020-01-03, 2020-02-28] test=[2020-03-02, 2020-03-31] end_time=2020-03-31"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := parseInDir(t, followingConfig(tc.test, tc.until, tc.gens))
			require.NoError(t, err)
			got, err := c.Build()
			require.NoError(t, err)
			if tc.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.want, windows(t, got))
		})
	}
}

func TestGenConfigFollowingUntilErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, yaml, want string }{
		{
			name: "bad date",
			yaml: followingConfig("[2020-02-03, null]", "2020-13-01", "  - {type: rolling}\n"),
			want: "config.yaml:2: following_until: ",
		},
		{
			name: "two rolling generators",
			yaml: followingConfig("[2020-02-03, null]", "2020-03-01", "  - {type: rolling}\n  - {type: rolling, step: 5}\n"),
			want: "config.yaml:13: generators[1]: following_until needs exactly one rolling generator, found another at generators[0]",
		},
		{
			name: "no generator",
			yaml: followingConfig("[2020-02-03, null]", "2020-03-01", ""),
			want: "config.yaml:2: following_until: following_until needs exactly one rolling generator, found 0",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseInDir(t, tc.yaml)
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
		})
	}
	c, err := parseInDir(t, followingConfig("[null, 2020-03-01]", "2020-03-01", "  - {type: rolling}\n"))
	require.NoError(t, err)
	_, err = c.Build()
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "config.yaml:10: tasks[0].dataset.kwargs.segments.test[0]: open start")
}

// TestFollowingCloseOpen: an open latest window with successors due is
// also returned closed on the day before the first successor; with none
// due nothing is returned, so the same end twice adds nothing.
func TestFollowingCloseOpen(t *testing.T) {
	t.Parallel()
	g := &RollingGen{Calendar: testCal(t), Step: 10, Type: Sliding, CloseOpen: true}
	open := tmpl(map[string]any{"train": seg("2020-01-03", "2020-01-31"), "test": seg("2020-02-03", nil)}, handlerEnd(nil))
	got, err := g.Following([]map[string]any{open}, d(t, "2020-02-20"))
	require.NoError(t, err)
	require.Equal(t, []string{
		// A null handler end is already unbounded: HandlerMod leaves it.
		"train=[2020-01-03, 2020-01-31] test=[2020-02-03, 2020-02-14] end_time=null",
		"train=[2020-01-17, 2020-02-14] test=[2020-02-18, null] end_time=null",
	}, windows(t, got))
	got, err = g.Following([]map[string]any{open}, d(t, "2020-02-14"))
	require.NoError(t, err)
	require.Empty(t, got)
}
