package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func runWorker(ctx context.Context, t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	return m.Run(ctx, args), errb.String()
}

func TestBadFlagsExit2(t *testing.T) {
	store := map[string]string{"TASKFLEET_STORE": "sqlite://" + filepath.Join(t.TempDir(), "t.db")}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{store, []string{"--kinds", "noop,train"}, `--kinds: unknown kind "train"`},
		{map[string]string{"TASKFLEET_KINDS": "gpu"}, nil, `TASKFLEET_KINDS: unknown kind "gpu"`},
		{map[string]string{"TASKFLEET_CONCURRENCY": "many"}, nil, `TASKFLEET_CONCURRENCY: "many" is not an integer`},
		{store, []string{"--concurrency", "0"}, "--concurrency: must be at least 1"},
		{store, []string{"--from-status", "done"}, "--from-status"},
		{store, []string{"--to-status", "waiting"}, "--to-status"},
		{store, []string{"--lease", "10ms"}, "--lease"},
		{store, []string{"--lease", "2562047h"}, "--lease 2562047h0m0s is not within [1s, 24h]"},
		{store, []string{"--lease", "25h"}, "--lease 25h0m0s is not within [1s, 24h]"},
		{store, []string{"--reap-grace", "100ms"}, "--reap-grace 100ms is not within [1s, 24h]"},
		{map[string]string{"TASKFLEET_LEASE": "2562047h"}, nil, "TASKFLEET_LEASE 2562047h0m0s is not within [1s, 24h]"},
		{store, []string{"--poll-interval", "-1s"}, "--poll-interval"},
		{store, []string{"--commit-linger", "2s"}, "--commit-linger: 2s: want 0 to 1s"},
		{map[string]string{"TASKFLEET_COMMIT_LINGER": "-1ms"}, nil, "TASKFLEET_COMMIT_LINGER: -1ms: want 0 to 1s"},
		{store, []string{"extra"}, `unexpected argument "extra"`},
		{store, []string{"--log-level", "loud"}, "--log-level"},
		{store, []string{"--gc-percent", "0"}, "--gc-percent: must be at least 1, got 0"},
		{map[string]string{"TASKFLEET_GC_PERCENT": "-5"}, nil, "TASKFLEET_GC_PERCENT: must be at least 1, got -5"},
		{store, []string{"--cpus", "-1"}, "--cpus: -1: want 0 (Go's default) to 1024"},
		{map[string]string{"TASKFLEET_CPUS": "2000"}, nil, "TASKFLEET_CPUS: 2000: want 0 (Go's default) to 1024"},
		{store, []string{"--program", "noop=python3 x.py"}, `--program "noop=python3 x.py": bad program: program "noop": name "noop": clashes with the built-in kind`},
		{store, []string{"--program", "train="}, `--program "train=": command: empty argv`},
		{store, []string{"--program", "a=x", "--program", "a=y"}, `--program "a=y": program "a" is registered twice`},
		{map[string]string{"TASKFLEET_PROGRAMS": "a=x;b="}, nil, `TASKFLEET_PROGRAMS: entry 2 "b=": command: empty argv`},
		{map[string]string{"TASKFLEET_PROGRAMS": "a=x;linear=y"}, nil, `TASKFLEET_PROGRAMS: bad program: program "linear": name "linear": clashes`},
		{store, []string{"--program-log-bytes", "10"}, "--program-log-bytes: 10: want 1024 (1 KiB) to 8388608 (8 MiB)"},
		{store, []string{"--program-grace", "0s"}, "--program-grace: 0s: want a duration > 0"},
		{store, []string{"--program", "train=python3 t.py", "--kinds", "train,fit"}, `--kinds: unknown kind "fit" (this worker has linear, noop, sleep, train)`},
	} {
		code, stderr := runWorker(context.Background(), t, tc.env, tc.args...)
		require.Equal(t, 2, code, "%v %v: %s", tc.env, tc.args, stderr)
		require.Contains(t, stderr, tc.want)
	}
}

// TestProgramsFileErrors checks that each problem of a --programs file is
// a usage error naming the flag (or its variable), the file and the line.
func TestProgramsFileErrors(t *testing.T) {
	dir := t.TempDir()
	store := "sqlite://" + filepath.Join(dir, "t.db")
	for i, tc := range []struct{ yaml, want string }{
		{"train:\n  command: [python3, t.py]\n  colour: red\n", "t0.yaml:3: train.colour: unknown key"},
		{"train:\n  command: []\n", "t1.yaml:2: train.command: empty argv"},
		{"train:\n  command: [python3]\n  timeout: soon\n", "t2.yaml:3: train.timeout: soon: want a Go duration"},
		{"a:\n  command: [x]\nsleep:\n  command: [y]\n", `t3.yaml:3: sleep: name "sleep": clashes with the built-in kind "sleep"`},
	} {
		path := filepath.Join(dir, fmt.Sprintf("t%d.yaml", i))
		require.NoError(t, os.WriteFile(path, []byte(tc.yaml), 0o600))
		code, stderr := runWorker(context.Background(), t, map[string]string{"TASKFLEET_STORE": store}, "--programs", path)
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, "--programs: bad program: "+filepath.Join(dir, tc.want))
		code, stderr = runWorker(context.Background(), t, map[string]string{"TASKFLEET_STORE": store, "TASKFLEET_PROGRAMS_FILE": path})
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, "TASKFLEET_PROGRAMS_FILE: bad program: "+filepath.Join(dir, tc.want))
	}
}

func TestRunsUntilCancelled(t *testing.T) {
	env := map[string]string{"TASKFLEET_STORE": "sqlite://" + filepath.Join(t.TempDir(), "t.db"), "TASKFLEET_LOG_LEVEL": "info"}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Cancel once the worker says it started, however long that takes.
	stderr := &cancelOn{needle: []byte("worker started"), cancel: cancel}
	m := &Main{Stdout: io.Discard, Stderr: stderr, Getenv: func(k string) string { return env[k] }}
	code := m.Run(ctx, []string{"--metrics-addr", "127.0.0.1:0", "--drain-timeout", "100ms"})
	require.Equal(t, 0, code, stderr.String())
	require.Contains(t, stderr.String(), "worker started")
}

// cancelOn is a log writer that calls cancel when needle has been written.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	needle []byte
	cancel context.CancelFunc
}

func (w *cancelOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), w.needle) {
		w.cancel()
	}
	return len(p), nil
}

func (w *cancelOn) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestWorkRootOfGoneWorkers: a worker with programs makes its work root in
// $TMPDIR, removes the one a killed worker left there (its lock is free),
// and removes its own when it stops.
func TestWorkRootOfGoneWorkers(t *testing.T) {
	tmp := t.TempDir()
	gone := filepath.Join(tmp, "taskfleet_work-gone")
	require.NoError(t, os.MkdirAll(filepath.Join(gone, "taskfleet-train-1", "artifacts"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(gone, ".lock"), nil, 0o600))
	env := map[string]string{
		"TASKFLEET_STORE": "sqlite://" + filepath.Join(t.TempDir(), "t.db"), "TASKFLEET_LOG_LEVEL": "info", "TMPDIR": tmp,
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &cancelOn{needle: []byte("worker started"), cancel: cancel}
	m := &Main{Stdout: io.Discard, Stderr: stderr, Getenv: func(k string) string { return env[k] }}
	code := m.Run(ctx, []string{"--program", "train=python3 train.py", "--drain-timeout", "100ms"})
	require.Equal(t, 0, code, stderr.String())
	require.Contains(t, stderr.String(), "removed the work directories of worker processes that are gone")
	require.Contains(t, stderr.String(), gone)
	require.NoDirExists(t, gone)
	left, err := filepath.Glob(filepath.Join(tmp, "*taskfleet_work-*"))
	require.NoError(t, err)
	require.Empty(t, left, "the worker removes its own work root when it stops")
}
