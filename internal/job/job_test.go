package job_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/job"
	"github.com/taskfleet/taskfleet/pkg/rolling"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	require.NoError(t, err)
	return p
}

// loadDemo loads examples/rolling/<name>.yaml with its output redirected
// into a temp dir.
func loadDemo(t *testing.T, name string) *job.Config {
	t.Helper()
	cfg, err := job.Load(repoFile(t, "examples/rolling/"+name+".yaml"))
	require.NoError(t, err)
	cfg.Collect.Output = filepath.Join(t.TempDir(), "pred.parquet")
	return cfg
}

func manager(t *testing.T, pool string) *taskstate.Manager {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: pool})
	require.NoError(t, err)
	return m
}

func run(t *testing.T, cfg *job.Config, m *taskstate.Manager) *job.Result {
	t.Helper()
	res, err := job.Run(context.Background(), job.Options{Config: cfg, Manager: m, InProcess: true, Timeout: 2 * time.Minute, PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	return res
}

func TestDemoEndToEnd(t *testing.T) {
	cfg := loadDemo(t, "demo")
	m := manager(t, cfg.Pool)
	res := run(t, cfg, m)
	require.Equal(t, 24, res.Tasks)
	require.Equal(t, 24, res.New)
	require.Equal(t, 24, res.Counts["done"])
	col := res.Collected
	require.NotNil(t, col)
	require.Equal(t, 2, col.Groups, "two models")
	require.Len(t, col.Windows, 24)

	// The ensembled predictions cover the whole test range, once per
	// (datetime, instrument): every business day from the first test day to
	// the calendar's end, for each of the 60 instruments.
	cal, err := rolling.BusinessDays(mustDate(t, "2020-04-01"), mustDate(t, "2021-12-31"), nil)
	require.NoError(t, err)
	seen := map[string]int{}
	days := map[time.Time]bool{}
	for _, r := range col.Pred.Rows {
		seen[r.Datetime.Format("2006-01-02")+"/"+r.Instrument]++
		days[r.Datetime] = true
	}
	require.Len(t, days, cal.Len(), "every test day is covered")
	require.Equal(t, cal.Len()*60, col.Rows)
	for k, n := range seen {
		require.Equal(t, 1, n, "%s predicted %d times", k, n)
	}
	// The synthetic market's planted signal guarantees a clearly positive
	// out-of-sample IC for a working pipeline.
	require.Greater(t, col.IC, 0.15)
	require.Greater(t, col.RankIC, 0.15)
	require.Greater(t, col.ICIR, 1.0)
	// The two models differ measurably: the full-feature OLS beats the
	// ridge on half the features in every window.
	meanIC := map[string]float64{}
	for _, w := range col.Windows {
		require.Greater(t, w.TestIC, 0.02, "window %s", w.Key)
		model := strings.Trim(strings.SplitN(w.Key, ",", 2)[0], "(")
		meanIC[model] += w.TestIC / 12
	}
	require.Greater(t, meanIC["OLS"]-meanIC["Ridge"], 0.05, "mean test IC by model: %v", meanIC)
	st, err := os.Stat(cfg.Collect.Output)
	require.NoError(t, err)
	require.Positive(t, st.Size())

	// A re-run reuses every finished task and collects the same result.
	again := run(t, cfg, m)
	require.Equal(t, 0, again.New)
	require.Equal(t, 24, again.Reused)
	require.InDelta(t, col.IC, again.Collected.IC, 1e-12)
}

func TestTwoPhase(t *testing.T) {
	cfg := loadDemo(t, "two_phase")
	require.True(t, cfg.TwoPhase)
	m := manager(t, cfg.Pool)
	res := run(t, cfg, m)
	require.Equal(t, 24, res.Counts["done"])
	// Phase two received phase one's result and added its score.
	for task, err := range m.Query(context.Background(), taskstate.Query{}, taskstate.QueryOptions{Payloads: true}) {
		require.NoError(t, err)
		v, err := m.DecodeRes(task)
		require.NoError(t, err)
		arts := v.(map[string]any)
		require.NotContains(t, arts, "pred", "the predictions are the pred.parquet artifact, not in the result")
		require.Contains(t, arts, "ic", "task %s was not scored by phase two", task.ID)
		require.Equal(t, 1, task.Attempts, "one claim in phase two (attempts are counted per phase)")
	}
	require.Greater(t, res.Collected.IC, 0.15)
}

func TestBrokenDatasetFailsTasksNotTheRun(t *testing.T) {
	cfg := loadDemo(t, "demo")
	cfg.Dataset = map[string]any{"csv": filepath.Join(t.TempDir(), "missing.csv")}
	m := manager(t, cfg.Pool)
	res, err := job.Run(context.Background(), job.Options{Config: cfg, Manager: m, InProcess: true, Timeout: time.Minute, PollInterval: 10 * time.Millisecond})
	require.Error(t, err)
	require.NotNil(t, res)
	require.Equal(t, 24, res.Counts["failed"], "every task fails; the workers survive")
}

func TestConfigErrorsNameFileAndPath(t *testing.T) {
	base, err := os.ReadFile(repoFile(t, "examples/rolling/demo.yaml"))
	require.NoError(t, err)
	dir := t.TempDir()
	for name, c := range map[string]struct {
		edit func(string) string
		want string
	}{
		"unknown key":  {func(s string) string { return s + "\nworkerz: 3\n" }, "workerz"},
		"bad ensemble": {func(s string) string { return strings.Replace(s, "ensemble: average", "ensemble: median", 1) }, "collect.ensemble"},
		"no pool":      {func(s string) string { return strings.Replace(s, "pool: rolling_demo", "", 1) }, "pool"},
		"bad pool":     {func(s string) string { return strings.Replace(s, "pool: rolling_demo", "pool: a.b", 1) }, "pool"},
		"bad output":   {func(s string) string { return strings.Replace(s, "rolling_demo_pred.parquet", "x.txt", 1) }, "collect.output"},
		"bad step":     {func(s string) string { return strings.Replace(s, "step: 40", "step: 0", 1) }, "generators[0].step"},
		"no dataset":   {func(s string) string { return strings.Replace(s, "dataset:\n  synthetic", "datasetx:\n  synthetic", 1) }, "datasetx"},
		"bad workers":  {func(s string) string { return strings.Replace(s, "workers: 2", "workers: -1", 1) }, "workers"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
			require.NoError(t, os.WriteFile(p, []byte(c.edit(string(base))), 0o644))
			_, err := job.Load(p)
			require.Error(t, err)
			require.Contains(t, err.Error(), p)
			require.Contains(t, err.Error(), c.want)
			if name == "bad ensemble" || name == "bad workers" {
				require.Regexp(t, regexp.QuoteMeta(p)+`:\d+: `+regexp.QuoteMeta(c.want)+`: `, err.Error(), "names the line")
			}
		})
	}
}

func mustDate(t *testing.T, s string) time.Time {
	d, err := rolling.ParseDate(s)
	require.NoError(t, err)
	return d
}
