package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// everyCPU runs the test with GOMAXPROCS at every CPU, Go's default, and
// skips it on a machine of one CPU, where there is nothing to share.
func everyCPU(t *testing.T) {
	t.Helper()
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: the advice is about sharing several")
	}
	prev := runtime.GOMAXPROCS(runtime.NumCPU())
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
}

// TestCPUsFlag checks that --cpus sets the scheduler's CPUs, which the
// start line reports, and that GOMAXPROCS in the environment wins.
func TestCPUsFlag(t *testing.T) {
	everyCPU(t)
	for _, tc := range []struct {
		env  map[string]string
		want int
	}{{nil, 1}, {map[string]string{"GOMAXPROCS": "7"}, runtime.NumCPU()}} {
		env := map[string]string{"TASKFLEET_STORE": "sqlite://" + filepath.Join(t.TempDir(), "t.db"), "TASKFLEET_LOG_LEVEL": "info", "TASKFLEET_LOG_FORMAT": "json"}
		for k, v := range tc.env {
			env[k] = v
		}
		runtime.GOMAXPROCS(runtime.NumCPU())
		ctx, cancel := context.WithCancel(t.Context())
		stderr := &cancelOn{needle: []byte("worker started"), cancel: cancel}
		m := &Main{Stdout: io.Discard, Stderr: stderr, Getenv: func(k string) string { return env[k] }}
		code := m.Run(ctx, []string{"--cpus", "1", "--drain-timeout", "100ms"})
		cancel()
		require.Equal(t, 0, code, stderr.String())
		require.Contains(t, stderr.String(), `"gomaxprocs":`+strconv.Itoa(tc.want)+",", "%v", tc.env)
		require.Equal(t, tc.want, runtime.GOMAXPROCS(0), "%v", tc.env)
	}
}

// TestWarnsWhenSharedOnEveryCPU runs the worker on a SQLite file that a
// second store keeps writing, while the registry lists another worker
// process of this host: with Go's default CPUs, the worker warns that
// they should each get their share.
func TestWarnsWhenSharedOnEveryCPU(t *testing.T) {
	everyCPU(t)
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: path})
	require.NoError(t, err)
	defer s.Close()
	mgr, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "default"})
	require.NoError(t, err)
	// The other worker process, as its registry entry says (in another
	// pool of the file: the advice counts every pool).
	host, _ := os.Hostname()
	register(t, s, "other", taskstate.WorkerInfo{ID: "other", Host: host, PID: os.Getpid() + 1, ExpiresAt: time.Now().Add(time.Hour)})

	// Ended by the warning; the timeout only bounds a failure.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// The other writer: no-op tasks for the worker, one create at a time,
	// until the worker has warned.
	created := make(chan error, 1)
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			if _, err := mgr.Create(ctx, []taskstate.TaskSpec{{Kind: "noop", Def: map[string]any{"i": i}}}, taskstate.CreateOptions{}); err != nil && ctx.Err() == nil {
				created <- err
				return
			}
		}
		created <- nil
	}()
	env := map[string]string{"TASKFLEET_STORE": "sqlite://" + path, "TASKFLEET_LOG_LEVEL": "warn", "TASKFLEET_LOG_FORMAT": "json"}
	stderr := &cancelOn{needle: []byte("set --cpus"), cancel: cancel}
	m := &Main{Stdout: io.Discard, Stderr: stderr, Getenv: func(k string) string { return env[k] }}
	code := m.Run(ctx, []string{"--health-interval", "10ms", "--concurrency", "8", "--drain-timeout", "100ms"})
	require.Equal(t, 0, code, stderr.String())
	require.NotErrorIs(t, ctx.Err(), context.DeadlineExceeded, "no warning before the timeout")
	require.NoError(t, <-created)
	require.Equal(t, 1, strings.Count(stderr.String(), "other worker processes on this host"), stderr.String())
	require.Contains(t, stderr.String(), `"other_workers":1,`)
}

// register puts w in the registry of pool, after a task of its own so
// that the pool is listed.
func register(t *testing.T, s taskstate.Store, pool string, w taskstate.WorkerInfo) {
	t.Helper()
	_, err := s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: pool, Now: time.Now(),
		Tasks: []taskstate.NewTask{{ID: taskstate.NewID(), Kind: "noop", Key: w.ID, Def: []byte{}, Filter: map[string]any{}}}})
	require.NoError(t, err)
	require.NoError(t, s.PutWorker(t.Context(), taskstate.PutWorkerParams{Pool: pool, Worker: w}))
}

// TestOtherWorkers counts the registry's live worker processes of a host
// other than the asking one, over every pool.
func TestOtherWorkers(t *testing.T) {
	s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "t.db")})
	require.NoError(t, err)
	defer s.Close()
	now := time.Now()
	for i, w := range []struct {
		pool, host string
		pid        int
		expires    time.Duration
	}{
		{"a", "h", 1, time.Hour},         // the asking process
		{"a", "h", 2, time.Hour},         // another one: counted
		{"b", "h", 2, time.Hour},         // the same process in another pool: once
		{"b", "h", 3, time.Hour},         // a third: counted
		{"b", "elsewhere", 4, time.Hour}, // another host
		{"b", "h", 5, -time.Minute},      // expired
	} {
		register(t, s, w.pool, taskstate.WorkerInfo{ID: strconv.Itoa(i), Host: w.host, PID: w.pid, ExpiresAt: now.Add(w.expires)})
	}
	n, err := otherWorkers(t.Context(), s, "h", 1, now)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = otherWorkers(t.Context(), s, "lonely", 1, now)
	require.NoError(t, err)
	require.Zero(t, n)
}

// sharedFlag is a store's answer to Shared, set by the test.
type sharedFlag struct{ atomic.Bool }

func (f *sharedFlag) Shared() bool { return f.Load() }

// TestCPUAdviceConditions checks when the advice is given: only on a
// shared file, with other worker processes on the host, every CPU, none
// chosen, and once.
func TestCPUAdviceConditions(t *testing.T) {
	everyCPU(t)
	core, logs := observer.New(zapcore.WarnLevel)
	var shared sharedFlag
	warnings := func(chosen bool, procs, others int, checks int) int {
		logs.TakeAll()
		runtime.GOMAXPROCS(procs)
		a := &cpuAdvice{store: &shared, chosen: chosen, log: zap.New(core),
			others: func(context.Context) (int, error) { return others, nil }}
		for range checks {
			a.check(t.Context())
		}
		return logs.Len()
	}
	require.Zero(t, warnings(false, runtime.NumCPU(), 1, 3), "not shared")
	shared.Store(true)
	require.Equal(t, 1, warnings(false, runtime.NumCPU(), 1, 3), "shared, every CPU: once")
	require.Zero(t, warnings(false, runtime.NumCPU(), 0, 3), "no other worker process (a dispatcher's create)")
	require.Zero(t, warnings(true, runtime.NumCPU(), 1, 3), "--cpus or GOMAXPROCS given")
	require.Zero(t, warnings(false, runtime.NumCPU()-1, 1, 3), "fewer CPUs than the machine's")
	logs.TakeAll()
	(&cpuAdvice{log: zap.New(core)}).check(t.Context())
	require.Zero(t, logs.Len(), "a store that cannot tell")
}
