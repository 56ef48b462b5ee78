package fleettest_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// fakeT records a fatal failure and ends the goroutine, as testing.T does.
type fakeT struct {
	testing.TB
	msg string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs fn with a fakeT and returns its fatal message ("" if none).
func fails(t *testing.T, fn func(tb testing.TB)) string {
	f := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

func TestSyncBufferConcurrentWritesAndReads(t *testing.T) {
	var b fleettest.SyncBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 800, strings.Count(b.String(), "\n"))
}

func TestEventually(t *testing.T) {
	n := 0
	fleettest.Eventually(t, 5*time.Second, func() error {
		if n++; n < 3 {
			return fmt.Errorf("n = %d", n)
		}
		return nil
	})
	require.Equal(t, 3, n)

	msg := fails(t, func(tb testing.TB) {
		fleettest.Eventually(tb, 50*time.Millisecond, func() error { return errors.New("never") })
	})
	require.Equal(t, "not true within 50ms: never", msg)
}

func TestFreeAddr(t *testing.T) {
	addr := fleettest.FreeAddr(t)
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err, "the port is free")
	require.NoError(t, l.Close())
}

func TestEnvDropsTaskfleetVariables(t *testing.T) {
	t.Setenv("TASKFLEET_STORE", "sqlite://developer.db")
	env := fleettest.Env("TASKFLEET_POOL=p")
	require.NotContains(t, env, "TASKFLEET_STORE=sqlite://developer.db")
	require.Contains(t, env, "TASKFLEET_POOL=p")
	var gorace []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "GORACE=") {
			gorace = append(gorace, kv)
		}
	}
	require.Len(t, gorace, 1)
	require.Contains(t, gorace[0], "atexit_sleep_ms=0")
}

func TestProc(t *testing.T) {
	sh := func(script string) fleettest.Cmd {
		return fleettest.Cmd{Name: "sh", Path: "/bin/sh", Args: []string{"-c", script}}
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}

	t.Run("output, log and exit", func(t *testing.T) {
		p := fleettest.Start(t, sh(`echo "ready on 127.0.0.1:1"; echo '{"msg":"started","n":1}' >&2; exec sleep 30`))
		require.Equal(t, "ready on 127.0.0.1:1", p.WaitOutput(t, 5*time.Second, fleettest.Stdout, "ready on "))
		rec := p.WaitLog(t, 5*time.Second, "started", fleettest.LogMsg("started"))
		require.Equal(t, 1.0, rec["n"])
		require.False(t, p.Exited())
		p.Kill(t)
		require.True(t, p.Exited())
		require.Equal(t, -1, p.ExitCode(), "killed by a signal")
	})

	t.Run("stop", func(t *testing.T) {
		p := fleettest.Start(t, sh(`trap 'exit 0' TERM; echo up; while :; do sleep 0.01; done`))
		p.WaitOutput(t, 5*time.Second, fleettest.Stdout, "up")
		require.Equal(t, 0, p.Stop(t))
	})

	t.Run("run", func(t *testing.T) {
		r := fleettest.Run(t, sh(`echo out; echo err >&2; exit 4`))
		require.Equal(t, 4, r.Code)
		require.Equal(t, "out\nerr\n", r.Output())
		require.Contains(t, r.String(), "exit code 4")
	})

	t.Run("exit before the line", func(t *testing.T) {
		msg := fails(t, func(tb testing.TB) {
			p := fleettest.Start(t, sh(`echo bye`))
			p.WaitOutput(tb, 5*time.Second, fleettest.Stdout, "never printed")
		})
		require.Contains(t, msg, "sh exited before it did print")
	})

	t.Run("timeout", func(t *testing.T) {
		p := fleettest.Start(t, sh(`exec sleep 30`))
		msg := fails(t, func(tb testing.TB) { p.WaitExit(tb, 20*time.Millisecond) })
		require.Contains(t, msg, "sh did not exit within 20ms")
		p.Signal(t, syscall.SIGKILL)
		require.Equal(t, -1, p.WaitExit(t, 5*time.Second))
	})
}

const page = `# HELP jobs_total Jobs.
# TYPE jobs_total counter
jobs_total{pool="a",event="created"} 2
jobs_total{pool="b",event="created"} 3
jobs_total{pool="b",event="done"} 1
# HELP up Up.
# TYPE up gauge
up 1
# HELP run_seconds Run time.
# TYPE run_seconds histogram
run_seconds_bucket{kind="noop",le="0.1"} 1
run_seconds_bucket{kind="noop",le="1"} 2
run_seconds_bucket{kind="noop",le="+Inf"} 2
run_seconds_sum{kind="noop"} 0.5
run_seconds_count{kind="noop"} 2
`

func TestParseMetrics(t *testing.T) {
	m, err := fleettest.ParseMetrics(page)
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
		ok     bool
	}{
		{"jobs_total", nil, 6, true},
		{"jobs_total", []string{"event", "created"}, 5, true},
		{"jobs_total", []string{"pool", "b", "event", "created"}, 3, true},
		{"jobs_total", []string{"pool", "c"}, 0, false},
		{"up", nil, 1, true},
		{"run_seconds_count", []string{"kind", "noop"}, 2, true},
		{"run_seconds_bucket", []string{"le", "0.1"}, 1, true},
		{"run_seconds_bucket", []string{"le", "+Inf"}, 2, true},
		{"run_seconds_sum", nil, 0.5, true},
		{"missing", nil, 0, false},
	} {
		got, ok := m.Sum(tc.name, tc.labels...)
		require.Equal(t, tc.ok, ok, "%s%v", tc.name, tc.labels)
		require.Equal(t, tc.want, got, "%s%v", tc.name, tc.labels)
	}
	_, err = fleettest.ParseMetrics("jobs_total{pool=\"a\" 1\n")
	require.Error(t, err)
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(page))
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, addr := range []string{host, srv.URL + "/metrics"} {
		m := fleettest.Scrape(t, addr)
		v, ok := m.Sum("jobs_total", "pool", "a")
		require.True(t, ok)
		require.Equal(t, 2.0, v)
		require.Equal(t, page, m.Text)
	}
}
