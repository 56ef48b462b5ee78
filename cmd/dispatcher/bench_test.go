package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/bench"
	"github.com/taskfleet/taskfleet/internal/cli"
)

func TestBenchJSON(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, nil, "bench", "-n", "300", "--samples", "10", "--batch", "100",
		"--concurrency", "8", "--workers", "2", "--idle", "0", "--idle-for", "200ms", "--log-level", "warn", "-o", "json")
	require.Equal(t, cli.ExitOK, code, stderr)
	var res bench.Results
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)

	c := res.Config
	require.Equal(t, []string{"burndown", "pickup", "wait", "create", "stat", "polling"}, c.Scenarios)
	require.Equal(t, 300, c.N)
	require.Equal(t, 300, c.CreateN)
	require.Equal(t, 100, c.Batch)
	require.Equal(t, 2, c.Workers)
	require.Equal(t, 8, c.Concurrency)
	require.Zero(t, c.Idle)
	require.True(t, c.Events)
	require.Equal(t, "sqlite (temporary file)", c.Store)
	require.Positive(t, c.GOMAXPROCS)

	require.Equal(t, 300, res.Burndown.Done)
	require.Equal(t, 10, res.Pickup.Samples)
	require.LessOrEqual(t, res.Pickup.P50, res.Pickup.P99)
	require.Equal(t, 10, res.Wait.Samples)
	require.LessOrEqual(t, res.Wait.P50, res.Wait.P99)
	require.Equal(t, 300, res.Create.Tasks)
	require.Equal(t, 300, res.Stat.Tasks)
	require.Equal(t, bench.DefaultStatRuns, res.Stat.Runs)
	require.Equal(t, 10, res.Polling.Pickup.Samples)
	require.Zero(t, res.Polling.IdleWritesPerSec)

	require.Contains(t, stderr, "burndown: 300 tasks in", "progress goes to stderr")
}

func TestBenchTable(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, nil, "bench", "--scenario", "stat,create", "-n", "200", "--no-events")
	require.Equal(t, cli.ExitOK, code, stderr)
	require.Contains(t, stdout, "events: off (polling)")
	require.Regexp(t, `(?m)^create\s+200 tasks in batches of 10,000`, stdout)
	require.Regexp(t, `(?m)^stat\s+median of 20 over 200 tasks`, stdout)
	require.NotContains(t, stdout, "burndown")
}

func TestBenchCPUProfile(t *testing.T) {
	t.Parallel()
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	code, _, stderr := run(t, nil, "bench", "--scenario", "stat", "-n", "100", "--no-events", "--cpuprofile", prof)
	require.Equal(t, cli.ExitOK, code, stderr)
	info, err := os.Stat(prof)
	require.NoError(t, err)
	require.Positive(t, info.Size())
}

func TestBenchStoreOnlyFromTheCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fromEnv := filepath.Join(dir, "env.db")
	given := filepath.Join(dir, "given.db")
	env := map[string]string{"TASKFLEET_STORE": "sqlite://" + fromEnv}

	code, _, stderr := run(t, env, "bench", "--scenario", "create", "-n", "50", "--no-events")
	require.Equal(t, cli.ExitOK, code, stderr)
	require.NoFileExists(t, fromEnv, "TASKFLEET_STORE must not receive benchmark tasks")

	code, stdout, stderr := run(t, env, "bench", "--scenario", "create", "-n", "50", "--no-events",
		"--store", "sqlite://"+given, "--keep", "-o", "json")
	require.Equal(t, cli.ExitOK, code, stderr)
	require.Contains(t, stdout, `"store": "sqlite://`+given+`"`)
	code, stdout, stderr = run(t, nil, "list", "--store", "sqlite://"+given)
	require.Equal(t, cli.ExitOK, code, stderr)
	require.Regexp(t, `bench-[0-9a-f]{8}-create\s+50\s`, stdout, "--keep leaves the pool")
}

func TestBenchUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", "fast"}, `--scenario: unknown scenario "fast"`},
		{[]string{"--workers", "0"}, "--workers: must be at least 1, got 0"},
		{[]string{"--concurrency", "-1"}, "--concurrency: must be at least 1, got -1"},
		{[]string{"-n", "-5"}, "-n: must be at least 0, got -5"},
		{[]string{"--batch", "0"}, "--batch: must be at least 1, got 0"},
		{[]string{"--samples", "-1"}, "--samples: must be at least 0, got -1"},
		{[]string{"--poll-interval", "0s"}, "--poll-interval: must be positive, got 0s"},
		{[]string{"--idle", "-1ms"}, "--idle: must not be negative, got -1ms"},
		{[]string{"--proc-cpus", "-2"}, "--proc-cpus: -2: want -1 (Go's default), 0 (the CPUs / --procs) or up to 1024"},
		{[]string{"--scenario", "stat", "-n", "10", "--no-events", "--cpuprofile", "/nonexistent/dir/cpu.prof"}, "--cpuprofile: open /nonexistent/dir/cpu.prof"},
		{[]string{"--no-events", "--nats", "nats://127.0.0.1:4222"}, "--nats and --no-events exclude each other"},
		{[]string{"-o", "xml"}, `-o: unknown output format "xml"`},
		{[]string{"now"}, `unexpected argument "now"`},
		{[]string{"--workers", "two"}, `invalid value "two" for flag -workers`},
	} {
		code, stdout, stderr := run(t, nil, append([]string{"bench"}, tc.args...)...)
		require.Equal(t, cli.ExitUsage, code, "%v: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.want, tc.args)
		require.Empty(t, stdout, tc.args)
	}
}

func TestBenchHelp(t *testing.T) {
	t.Parallel()
	code, _, stderr := run(t, nil, "bench", "--help")
	require.Equal(t, cli.ExitOK, code)
	for _, want := range []string{"usage: dispatcher bench", "burndown", "pickup", "-concurrency", "-no-events", "-poll-interval", "-samples", "-scenario"} {
		require.Contains(t, stderr, want)
	}
	code, _, stderr = run(t, nil, "help")
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, stderr, "bench ")
}
