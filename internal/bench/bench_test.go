package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/taskfleet/taskfleet/internal/bench"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tiny is a configuration small enough for a test: the figures it gives
// are checked for shape, never for speed.
func tiny(t *testing.T) bench.Config {
	t.Helper()
	return bench.Config{
		N: 500, CreateN: 400, Batch: 150, Workers: 2, Concurrency: 8,
		PickupSamples: 20, WaitSamples: 20, StatRuns: 5, Idle: time.Millisecond, IdleFor: 300 * time.Millisecond,
		Logger: zaptest.NewLogger(t),
	}
}

func requireOrdered(t *testing.T, l *bench.Latency, samples int) {
	t.Helper()
	require.NotNil(t, l)
	require.Equal(t, samples, l.Samples)
	require.LessOrEqual(t, l.Min, l.P50)
	require.LessOrEqual(t, l.P50, l.P90)
	require.LessOrEqual(t, l.P90, l.P99)
	require.LessOrEqual(t, l.P99, l.Max)
	require.LessOrEqual(t, l.Min, l.Mean)
	require.LessOrEqual(t, l.Mean, l.Max)
	require.Positive(t, l.Max)
}

func TestRunEveryScenario(t *testing.T) {
	t.Parallel()
	var progress bytes.Buffer
	res, err := bench.Run(t.Context(), tiny(t), &progress)
	require.NoError(t, err)

	c := res.Config
	require.Equal(t, []string{"burndown", "pickup", "wait", "create", "stat", "polling"}, c.Scenarios)
	require.Equal(t, 2, c.Workers)
	require.Equal(t, 8, c.Concurrency)
	require.True(t, c.Events)
	require.Equal(t, "embedded NATS (in-process)", c.EventBus)
	require.Equal(t, "sqlite (temporary file)", c.Store)
	require.Equal(t, bench.Millis(bench.DefaultPollInterval), c.PollInterval)
	require.Equal(t, 500, c.N)
	require.Equal(t, 400, c.CreateN)
	require.Positive(t, c.GOMAXPROCS)

	bd := res.Burndown
	require.NotNil(t, bd)
	require.Equal(t, 500, bd.Tasks)
	require.Equal(t, 500, bd.Done)
	require.Zero(t, bd.Failed)
	require.Positive(t, bd.Seconds)
	require.Positive(t, bd.TasksPerSec)
	require.Equal(t, bench.TargetBurndown, bd.TargetPerSec)
	require.GreaterOrEqual(t, bd.ClaimRoundTrips, 500/16) // at most concurrency × workers per claim
	require.Positive(t, bd.CommitRoundTrips)
	require.LessOrEqual(t, bd.CommitRoundTrips, 500)

	requireOrdered(t, res.Pickup, 20)
	require.True(t, res.Pickup.Events)
	require.Equal(t, bench.TargetPickupP50, res.Pickup.TargetP50)
	require.Equal(t, bench.TargetPickupP99, res.Pickup.TargetP99)
	requireOrdered(t, res.Wait, 20)
	require.Equal(t, bench.TargetWait, res.Wait.TargetP99)

	require.NotNil(t, res.Create)
	require.Equal(t, 400, res.Create.Tasks)
	require.Equal(t, 150, res.Create.Batch)
	require.Positive(t, res.Create.TasksPerSec)
	require.Positive(t, res.Create.FirstTenthPerSec)
	require.Positive(t, res.Create.LastTenthPerSec)

	st := res.Stat
	require.NotNil(t, st)
	require.Equal(t, 400, st.Tasks)
	require.Equal(t, 5, st.Runs)
	require.LessOrEqual(t, st.Min, st.Median)
	require.LessOrEqual(t, st.Median, st.Max)

	p := res.Polling
	require.NotNil(t, p)
	requireOrdered(t, &p.Pickup, 20)
	require.False(t, p.Pickup.Events)
	require.Equal(t, bench.Millis(taskstate.DefaultPollInterval), p.PollInterval)
	require.Equal(t, bench.DefaultIdleWorkers, p.IdleWorkers)
	require.Positive(t, p.IdlePollsPerSec, "the idle runners poll")
	require.Positive(t, p.IdleStorePct, "their polls take time in the store")
	require.Zero(t, p.IdleWritesPerSec, "an idle fleet writes nothing")
	require.Positive(t, p.PeakRSSBytes)

	for _, want := range []string{"burndown: creating 500 no-op tasks", "pickup: p50", "wait: p50", "create: 400 tasks in", "stat: median", "polling: p50", "idle runners"} {
		require.Contains(t, progress.String(), want)
	}

	var table bytes.Buffer
	require.NoError(t, bench.WriteTable(&table, res))
	for _, want := range []string{"2 worker(s) × concurrency 8", "burndown", "pickup", "wait", "create", "stat", "≤ 50ms"} {
		require.Contains(t, table.String(), want)
	}
}

func TestRunWithoutEvents(t *testing.T) {
	t.Parallel()
	cfg := tiny(t)
	cfg.Scenarios = []bench.Scenario{bench.Wait, bench.Burndown, bench.Pickup} // run in canonical order anyway
	cfg.NoEvents, cfg.PollInterval = true, 10*time.Millisecond
	cfg.N, cfg.PickupSamples, cfg.WaitSamples = 200, 5, 5
	res, err := bench.Run(t.Context(), cfg, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"burndown", "pickup", "wait"}, res.Config.Scenarios)
	require.False(t, res.Config.Events)
	require.Equal(t, "off (polling)", res.Config.EventBus)
	require.Equal(t, bench.Millis(10*time.Millisecond), res.Config.PollInterval)
	require.Equal(t, 200, res.Burndown.Done)
	requireOrdered(t, res.Pickup, 5)
	require.False(t, res.Pickup.Events)
	require.Zero(t, res.Pickup.TargetP50, "the targets apply with events")
	requireOrdered(t, res.Wait, 5)
	require.Nil(t, res.Create)
	require.Nil(t, res.Stat)
	require.True(t, res.Pickup.Met())
}

func TestStatFillsItsOwnPool(t *testing.T) {
	t.Parallel()
	cfg := tiny(t)
	cfg.Scenarios = []bench.Scenario{bench.Stat}
	cfg.NoEvents = true
	res, err := bench.Run(t.Context(), cfg, nil)
	require.NoError(t, err)
	require.Nil(t, res.Create)
	require.Equal(t, 400, res.Stat.Tasks)
	require.Equal(t, 5, res.Stat.Runs)
}

func TestGivenStore(t *testing.T) {
	t.Parallel()
	for _, keep := range []bool{false, true} {
		store, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
		require.NoError(t, err)
		t.Cleanup(func() { _ = store.Close() })
		cfg := tiny(t)
		cfg.Scenarios = []bench.Scenario{bench.Create, bench.Stat}
		cfg.Store, cfg.StoreName, cfg.Keep, cfg.NoEvents = store, "sqlite://given.db", keep, true
		var progress bytes.Buffer
		res, err := bench.Run(t.Context(), cfg, &progress)
		require.NoError(t, err)
		require.Equal(t, "sqlite://given.db", res.Config.Store)
		pools, err := store.ListPools(t.Context())
		require.NoError(t, err)
		if keep {
			require.Len(t, pools, 1)
			require.True(t, strings.HasPrefix(pools[0], "bench-") && strings.HasSuffix(pools[0], "-create"), pools[0])
			c, err := store.Stat(t.Context(), taskstate.StatParams{Pool: pools[0]})
			require.NoError(t, err)
			require.Equal(t, 400, c[taskstate.StatusWaiting])
			continue
		}
		require.Contains(t, progress.String(), "removing the benchmark pools")
		for _, p := range pools {
			c, err := store.Stat(t.Context(), taskstate.StatParams{Pool: p})
			require.NoError(t, err)
			require.Zero(t, c.Total(), "pool %s", p)
		}
	}
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	cfg := tiny(t)
	cfg.NoEvents = true
	_, err := bench.Run(ctx, cfg, nil)
	require.ErrorIs(t, err, context.Canceled)
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  bench.Config
		want string
	}{
		{bench.Config{N: -1}, "Config.N must not be negative"},
		{bench.Config{Workers: -2}, "Config.Workers must not be negative"},
		{bench.Config{PollInterval: -time.Second}, "Config.PollInterval must not be negative"},
		{bench.Config{Scenarios: []bench.Scenario{"nope"}}, `unknown scenario "nope"`},
	} {
		_, err := bench.Run(t.Context(), tc.cfg, nil)
		require.ErrorContains(t, err, tc.want)
	}
}

func TestParseScenarios(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]bench.Scenario{
		"":                    bench.Scenarios,
		"all":                 bench.Scenarios,
		"stat,burndown":       {bench.Burndown, bench.Stat},
		" wait , wait,pickup": {bench.Pickup, bench.Wait}, //nolint:gocritic // the spaces are the input under test
		"create,all":          bench.Scenarios,
		"fanout,stat":         {bench.Stat, bench.Fanout},
	} {
		got, err := bench.ParseScenarios(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := bench.ParseScenarios("burndown,fast")
	require.ErrorContains(t, err, `unknown scenario "fast" (want all or a comma-separated list of burndown, pickup, wait, create, stat, polling, create-cli, fanout, filtered, multiproc)`)
}

func TestResultsJSON(t *testing.T) {
	t.Parallel()
	in := bench.Results{
		Config: bench.ConfigReport{Workers: 1, PollInterval: bench.Millis(2 * time.Second)},
		Pickup: &bench.Latency{Samples: 3, P50: bench.Millis(412345 * time.Nanosecond), P99: bench.Millis(3 * time.Millisecond)},
	}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	require.Contains(t, string(b), `"poll_interval_ms":2000`)
	require.Contains(t, string(b), `"p50_ms":0.412`)
	require.NotContains(t, string(b), `"burndown"`)
	var out bench.Results
	require.NoError(t, json.Unmarshal(b, &out))
	require.Equal(t, bench.Millis(412*time.Microsecond), out.Pickup.P50)
	require.Equal(t, in.Config.PollInterval, out.Config.PollInterval)
}

func TestWriteTableVerdicts(t *testing.T) {
	t.Parallel()
	res := bench.Results{
		Burndown: &bench.Throughput{Tasks: 100_000, Done: 100_000, Seconds: 10, TasksPerSec: 10_000, TargetPerSec: bench.TargetBurndown, ClaimRoundTrips: 2000, CommitRoundTrips: 1000},
		Pickup:   &bench.Latency{Samples: 500, Events: true, P50: bench.Millis(400 * time.Microsecond), P99: bench.Millis(2 * time.Millisecond), TargetP50: bench.TargetPickupP50, TargetP99: bench.TargetPickupP99},
		Stat:     &bench.StatResult{Tasks: 1_000_000, Runs: 20, Median: bench.Millis(30 * time.Microsecond), Target: bench.TargetStat},
	}
	var out bytes.Buffer
	require.NoError(t, bench.WriteTable(&out, res))
	lines := strings.Split(out.String(), "\n")
	find := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("no line %q in\n%s", prefix, out.String())
		return ""
	}
	require.Contains(t, find("burndown"), "10,000 tasks/s")
	require.Contains(t, find("burndown"), "NOT MET")
	require.Contains(t, out.String(), "50.0 / 100.0")
	require.Contains(t, find("pickup"), "400µs")
	require.True(t, strings.HasSuffix(strings.TrimSpace(find("pickup")), "met"))
	require.Contains(t, find("stat"), "30µs")
}
