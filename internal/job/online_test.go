package job_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/job"
	"github.com/taskfleet/taskfleet/pkg/rolling"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// onlineConfig is a two-model rolling config over business days from
// 2018-12-03 to end, test windows of 40 days from 2020-04-01.
func onlineConfig(t *testing.T, dir, end, until string) *job.Config {
	t.Helper()
	yaml := fmt.Sprintf(`pool: online
calendar: {start: 2018-12-03, end: %[1]s}
dataset:
  synthetic: {start: 2018-12-03, end: %[1]s, instruments: 20, features: 4, seed: 3, snr: 0.08}
until: %[2]s
tasks:
  - model: {class: OLS, kwargs: {alpha: 0}}
    dataset: &ds
      kwargs:
        handler: {class: Synthetic, kwargs: {start_time: 2019-01-01, end_time: 2020-06-30}}
        segments:
          train: [2019-01-01, 2019-12-31]
          valid: [2020-01-01, 2020-03-31]
          test: [2020-04-01, null]
  - model: {class: Ridge, kwargs: {alpha: 50}}
    dataset: *ds
generators:
  - {type: rolling, step: 40, rtype: sliding, trunc_days: 2}
collect: {ensemble: average}
`, end, until)
	path := filepath.Join(dir, "online-"+end+".yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o644))
	cfg, err := job.Load(path)
	require.NoError(t, err)
	cfg.Collect.Output = filepath.Join(dir, "pred-"+end+".parquet")
	cfg.Collect.Signal = filepath.Join(dir, "signal.csv")
	return cfg
}

// TestRunUntilRollsThePoolForward: a pool run with the calendar ending at
// D1 (three whole test windows per model), then with the calendar extended
// to D2 and until D2: exactly the three following windows per model are
// created, the old ones are kept, and the collection covers every test day
// up to D2 once. The same until again adds nothing.
func TestRunUntilRollsThePoolForward(t *testing.T) {
	days, err := rolling.BusinessDays(mustDate(t, "2020-04-01"), mustDate(t, "2021-12-31"), nil)
	require.NoError(t, err)
	d1 := rolling.FormatDate(days.Day(3*40 - 1)) // the end of the third window
	d2 := rolling.FormatDate(days.Day(5*40 + 9)) // ten days into the sixth
	dir := t.TempDir()

	cfg1 := onlineConfig(t, dir, d1, d1)
	m := manager(t, cfg1.Pool)
	first := run(t, cfg1, m)
	require.Equal(t, 6, first.New, "an empty pool is generated from the templates")
	require.Zero(t, first.Added)
	require.Len(t, first.Collected.Windows, 6)
	sig := first.Collected.Signal
	require.Equal(t, job.SignalUpdate{Path: cfg1.Collect.Signal, Days: 120, From: day0(days), To: d1, Rewritten: true}, *sig)
	signal1, err := os.ReadFile(sig.Path)
	require.NoError(t, err)

	cfg2 := onlineConfig(t, dir, d2, d2)
	second := run(t, cfg2, m)
	require.Equal(t, 6, second.Added, "windows [120, 159], [160, 199], [200, open) per model")
	require.Equal(t, 6, second.New)
	require.Zero(t, second.Reused)
	require.Equal(t, 12, second.Counts["done"]+first.Counts["done"])
	require.Len(t, second.Collected.Windows, 12, "old and new windows collected")
	var tests []string
	for tk, err := range m.Query(context.Background(), taskstate.Query{}, taskstate.QueryOptions{}) {
		require.NoError(t, err)
		seg, _ := rolling.GetPath(tk.Filter, "dataset.kwargs.segments.test")
		tests = append(tests, fmt.Sprint(tk.Filter["model"].(map[string]any)["class"], seg))
	}
	require.Len(t, tests, 12)
	day := func(i int) string { return rolling.FormatDate(days.Day(i)) }
	require.Equal(t, []string{
		fmt.Sprint("OLS", []any{day(120), day(159)}), fmt.Sprint("OLS", []any{day(160), day(199)}), fmt.Sprint("OLS", []any{day(200), nil}),
		fmt.Sprint("Ridge", []any{day(120), day(159)}), fmt.Sprint("Ridge", []any{day(160), day(199)}), fmt.Sprint("Ridge", []any{day(200), nil}),
	}, tests[6:], "the following windows, model by model")

	seen := map[string]int{}
	covered := map[time.Time]bool{}
	for _, r := range second.Collected.Pred.Rows {
		seen[r.Datetime.Format("2006-01-02")+"/"+r.Instrument]++
		covered[r.Datetime] = true
	}
	require.Len(t, covered, 5*40+10, "every test day up to D2")
	require.Equal(t, (5*40+10)*20, second.Collected.Rows)
	for k, n := range seen {
		require.Equal(t, 1, n, "%s predicted %d times", k, n)
	}

	// The signal: the days after D1 appended, the rows up to D1 as they
	// were, byte for byte; every day up to D2 once.
	require.Equal(t, job.SignalUpdate{Path: cfg2.Collect.Signal, Days: 90, From: day(120), To: d2}, *second.Collected.Signal)
	signal2, err := os.ReadFile(cfg2.Collect.Signal)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(signal2), string(signal1)), "the old rows are unchanged")
	require.Equal(t, (5*40+10)*20+1, strings.Count(string(signal2), "\n"), "header and one line per day and instrument")

	again := run(t, cfg2, m)
	require.Zero(t, again.Added, "the same until adds nothing")
	require.Zero(t, again.Tasks)
	require.Len(t, again.Collected.Windows, 12)
	require.Equal(t, second.Collected.Rows, again.Collected.Rows)
	require.Zero(t, again.Collected.Signal.Days)
	signal3, err := os.ReadFile(cfg2.Collect.Signal)
	require.NoError(t, err)
	require.Equal(t, signal2, signal3, "nothing appended")

	cfg2.Collect.OverwriteSignal = true
	over := run(t, cfg2, m)
	require.Equal(t, job.SignalUpdate{Path: cfg2.Collect.Signal, Days: 210, From: day0(days), To: d2, Rewritten: true}, *over.Collected.Signal)
}

func day0(c *rolling.Calendar) string { return rolling.FormatDate(c.Day(0)) }

// TestOnlineExample: examples/rolling/online.yaml rolls forward on its
// second run and keeps its signal.
func TestOnlineExample(t *testing.T) {
	cfg := loadDemo(t, "online")
	require.Equal(t, "2099-12-31", cfg.Until)
	cfg.Collect.Signal = filepath.Join(t.TempDir(), "signal.parquet")
	m := manager(t, cfg.Pool)
	first := run(t, cfg, m)
	require.False(t, first.Online, "an empty pool is generated from the templates")
	require.Positive(t, first.Collected.Signal.Days)
	again := run(t, cfg, m)
	require.True(t, again.Online)
	require.Zero(t, again.Added)
	require.Zero(t, again.Collected.Signal.Days)
}

// TestRunUntilClosesAnOpenWindow: the calendar ends at D1 six days into the
// fourth window, which is open and predicted only up to D1. Rolled forward
// to D2, it gets a closed copy [120, 159] (its days after D1 had no data
// when it ran) and the successors [160, open), [200, open): every test day up
// to D2 once, and the signal's rows up to D1 unchanged.
func TestRunUntilClosesAnOpenWindow(t *testing.T) {
	days, err := rolling.BusinessDays(mustDate(t, "2020-04-01"), mustDate(t, "2021-12-31"), nil)
	require.NoError(t, err)
	day := func(i int) string { return rolling.FormatDate(days.Day(i)) }
	d1, d2 := day(125), day(209)
	dir := t.TempDir()
	m := manager(t, "online")
	first := run(t, onlineConfig(t, dir, d1, d1), m)
	require.Equal(t, 8, first.New)
	require.Equal(t, 126, first.Collected.Signal.Days)
	signal1, err := os.ReadFile(first.Collected.Signal.Path)
	require.NoError(t, err)

	cfg2 := onlineConfig(t, dir, d2, d2)
	second := run(t, cfg2, m)
	require.Equal(t, 6, second.Added)
	var added []string
	for tk, err := range m.Query(context.Background(), taskstate.Query{}, taskstate.QueryOptions{}) {
		require.NoError(t, err)
		if tk.Filter["model"].(map[string]any)["class"] == "OLS" {
			seg, _ := rolling.GetPath(tk.Filter, "dataset.kwargs.segments.test")
			added = append(added, fmt.Sprint(seg))
		}
	}
	require.Equal(t, []string{
		fmt.Sprint([]any{day(120), nil}),
		fmt.Sprint([]any{day(120), day(159)}), fmt.Sprint([]any{day(160), nil}), fmt.Sprint([]any{day(200), nil}),
	}, added[3:], "as in Qlib, the successors of an open window are open; the later start wins")
	require.Equal(t, 210*20, second.Collected.Rows, "every day once")
	require.Equal(t, job.SignalUpdate{Path: cfg2.Collect.Signal, Days: 84, From: day(126), To: d2}, *second.Collected.Signal)
	signal2, err := os.ReadFile(cfg2.Collect.Signal)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(signal2), string(signal1)))
	require.Equal(t, 210*20+1, strings.Count(string(signal2), "\n"))

	again := run(t, cfg2, m)
	require.Zero(t, again.Added)
}
