//go:build unix

package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// readyz returns the status code and body of GET http://addr/readyz. The
// client gives up after 3 s: a probe that hangs is a failure too.
func readyz(addr string) (int, string, error) {
	client := http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitReadyz waits until /readyz at addr answers code with a body
// containing substr.
func waitReadyz(t *testing.T, addr string, code int, substr string) {
	t.Helper()
	fleettest.Eventually(t, 30*time.Second, func() error {
		got, body, err := readyz(addr)
		if err != nil {
			return err
		}
		if got != code || !strings.Contains(body, substr) {
			return fmt.Errorf("readyz %d %q, want %d with %q", got, body, code, substr)
		}
		return nil
	})
}

// TestWorkerStoreFileLost: a worker whose SQLite file is deleted or
// replaced under it, or corrupted, stops: one clear error in its log and
// exit 1 within a bounded time, instead of writing to an unlinked inode
// or logging the same error forever.
func TestWorkerStoreFileLost(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(t *testing.T, path string)
		want string
	}{
		{"deleted", func(t *testing.T, path string) { require.NoError(t, os.Remove(path)) }, "was deleted"},
		{"replaced", func(t *testing.T, path string) {
			other := path + ".new"
			require.NoError(t, os.WriteFile(other, nil, 0o644))
			require.NoError(t, os.Rename(other, path))
		}, "was replaced by another file"},
		{"truncated", func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, fi.Size()/2))
		}, "is corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			path := strings.TrimPrefix(c.store, "sqlite://")
			// Enough tasks for a file of many pages; done, and the file
			// checkpointed (stat is the last process to close it), so it
			// holds the tables and not a WAL.
			c.create(sleepTasks(300, "1ms", "before"))
			w := c.startWorker("w1", "--health-interval", "100ms", "--drain-timeout", "1s")
			waitReadyz(t, w.metrics, http.StatusOK, "ok")
			c.waitAll(30 * time.Second)
			c.mustDispatcher("stat")
			tc.do(t, path)
			code := w.WaitExit(t, 30*time.Second)
			require.Equal(t, 1, code, "the worker exits 1\n%s", w.Dump())
			stderr := w.Stderr()
			require.Equal(t, 1, strings.Count(stderr, `"store lost: stopping`), "one clear error\n%s", stderr)
			require.Contains(t, stderr, tc.want)
			require.Contains(t, stderr, "worker: store file lost: "+path+" ", "the exit message names the file")
		})
	}
}

// TestWorkerReadyzDraining: /readyz is 503 "draining" while a worker
// that got SIGTERM finishes its tasks.
func TestWorkerReadyzDraining(t *testing.T) {
	c := newCluster(t)
	w := c.startWorker("w1", "--drain-timeout", "30s")
	waitReadyz(t, w.metrics, http.StatusOK, "ok")
	c.create(sleepTasks(1, "20s", "drain"))
	fleettest.Eventually(t, 30*time.Second, func() error {
		if n, _ := w.scrape(t).Sum("taskfleet_tasks_in_flight"); n != 1 {
			return fmt.Errorf("%v tasks in flight", n)
		}
		return nil
	})
	w.Signal(t, syscall.SIGTERM)
	waitReadyz(t, w.metrics, http.StatusServiceUnavailable, "not ready: draining")
	require.False(t, w.Exited(), "still draining")
}

// TestReadyzStoreStopped: with the Mongo-wire server frozen (SIGSTOP),
// the worker's and the exporter's /readyz answer 503 at once, and 200
// again once it runs; an exporter started before its store is reachable
// serves 503, not a hang or an exit.
func TestReadyzStoreStopped(t *testing.T) {
	bin := os.Getenv("MONGOTESTSERVER_BIN")
	if bin == "" {
		t.Skip("MONGOTESTSERVER_BIN is not set: this test freezes its own Mongo-wire server (run through tools/mongotestserver/with-server.sh with MONGOTESTSERVER_BIN)")
	}
	c := newCluster(t)
	c.pool = "readyz"

	// An exporter whose store does not answer yet: nothing listens there.
	addr := fleettest.FreeAddr(t)
	early := fleettest.FreeAddr(t)
	exp := c.start("exporter", c.bin.Dispatcher, c.env("TASKFLEET_STORE=mongodb://"+addr+"/?serverSelectionTimeoutMS=1000"),
		"exporter", "--metrics-addr", early)
	waitReadyz(t, early, http.StatusServiceUnavailable, "not ready: store unreachable")
	require.False(t, exp.Exited())

	srv, uri := startMongoServer(t)
	c.store = uri + "?serverSelectionTimeoutMS=1000"
	c.create(sleepTasks(1, "1ms", "readyz"))
	w := c.startWorker("w1")
	expAddr := fleettest.FreeAddr(t)
	c.start("exporter2", c.bin.Dispatcher, c.env(), "exporter", "--metrics-addr", expAddr)
	waitReadyz(t, w.metrics, http.StatusOK, "ok")
	waitReadyz(t, expAddr, http.StatusOK, "ok")

	srv.Signal(t, syscall.SIGSTOP)
	t.Cleanup(func() { _ = syscall.Kill(srv.PID(), syscall.SIGCONT) })
	waitReadyz(t, w.metrics, http.StatusServiceUnavailable, "not ready: store unreachable")
	waitReadyz(t, expAddr, http.StatusServiceUnavailable, "not ready: store unreachable")

	srv.Signal(t, syscall.SIGCONT)
	waitReadyz(t, w.metrics, http.StatusOK, "ok")
	waitReadyz(t, expAddr, http.StatusOK, "ok")
}

// startMongoServer starts a Mongo-wire test server of its own (one this
// test may freeze) and returns it with its URI.
func startMongoServer(t *testing.T) (*fleettest.Proc, string) {
	t.Helper()
	dir := t.TempDir()
	uriFile := filepath.Join(dir, "uri")
	p := fleettest.Start(t, fleettest.Cmd{Name: "mongotestserver", Path: os.Getenv("MONGOTESTSERVER_BIN"),
		Args: []string{"-uri-file", uriFile, "-dir", filepath.Join(dir, "data"), "-log-level", "error"}, Env: fleettest.Env("TMPDIR=" + dir)})
	var uri string
	fleettest.Eventually(t, 60*time.Second, func() error {
		data, err := os.ReadFile(uriFile)
		if err != nil || len(data) == 0 {
			return fmt.Errorf("no URI yet: %v", err)
		}
		uri, _, _ = strings.Cut(string(data), "\n")
		return nil
	})
	return p, strings.TrimSpace(uri)
}
