//go:build unix

package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
	"github.com/taskfleet/taskfleet/internal/gobcodec/gobbomb"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// deepResultScript returns a result nested 9,990 levels deep, which took
// gigabytes to encode.
const deepResultScript = `print('{"r": ' + '[' * 9990 + ']' * 9990 + '}')`

// maxWorkerHWM bounds a worker's peak RSS while it meets the bombs (each
// took gigabytes or a fatal stack overflow before).
const maxWorkerHWM = 1500 << 20

// TestPayloadBombs: defs written straight into the store file (the
// Manager refuses to create them) whose map header claims 2^26 entries or
// which nest 600,000 []any under the 15 MiB cap, and a program returning a
// result 9,990 levels deep: the worker survives with a bounded peak RSS,
// each bomb's task fails at once with a clear error, the other tasks are
// done, and `dispatcher get` shows the bombs as undecodable.
func TestPayloadBombs(t *testing.T) {
	c := newCluster(t)
	programs := programsFile(t, map[string]string{"deep": deepResultScript}, "")
	var specs []spec
	for i := range 6 {
		specs = append(specs, spec{Kind: "noop", Def: map[string]any{"seq": i}})
	}
	specs = append(specs, spec{Kind: "deep", Def: map[string]any{"deep": true}, MaxAttempts: 3})
	ids := c.create(specs)
	others, deepID := ids[:6], ids[6]

	bombs := map[string][]byte{"map": gobbomb.MapHeader(1 << 26), "nested": gobbomb.NestedSlices(600_000)}
	require.Less(t, len(bombs["nested"]), taskstate.DefaultMaxPayload)
	bombIDs := injectDefs(t, strings.TrimPrefix(c.store, "sqlite://"), c.pool, bombs)

	// A lease longer than the harness's 2 s: decoding the bombs keeps the
	// worker busy, and on a loaded machine a late heartbeat cost the deep
	// task its lease and a second attempt, which this test counts.
	w := c.startWorkerIn("target", "", nil, "--programs", programs, "--lease", "15s")
	fleettest.Eventually(t, 60*time.Second, func() error {
		if n := c.stat()["failed"]; n != 3 {
			return fmt.Errorf("%d tasks failed, want 3: %v", n, c.stat())
		}
		return nil
	})
	require.False(t, w.Exited(), "the worker survives:\n%s", w.Dump())
	hwm := vmHWM(t, w.PID())
	require.Less(t, hwm, int64(maxWorkerHWM), "the worker's peak RSS")
	t.Logf("worker peak RSS: %d MiB", hwm>>20)

	for _, tk := range c.get(others...) {
		require.Equal(t, "done", tk.Status, describe([]task{tk}))
	}
	want := map[string]string{
		bombIDs["map"]:    "def: taskstate: cannot decode payload: gobcodec: length larger than the payload: length 67108864",
		bombIDs["nested"]: "def: taskstate: cannot decode payload: gobcodec: nested too deep: more than 1000 levels",
		deepID:            "result: taskstate: encode map[string]interface {}: r.0.0.0.0.0.0.0.(984 more)",
	}
	for id, msg := range want {
		tk := c.get(id)[0]
		require.Equal(t, "failed", tk.Status, describe([]task{tk}))
		require.Equal(t, 1, tk.Attempts, "never retried: %s", describe([]task{tk}))
		require.Contains(t, tk.LastError, msg)
	}

	// get shows the bombs as undecodable, and exits normally.
	for name, id := range bombIDs {
		r := c.dispatcher("get", id)
		require.Equal(t, 0, r.Code, r.String())
		require.Contains(t, r.Stdout, "undecodable: taskstate: cannot decode payload: gobcodec:", name)
	}
	out := c.mustDispatcher("get", "-o", "json", bombIDs["map"], bombIDs["nested"])
	require.Equal(t, 2, strings.Count(out, `"def": "undecodable: `), out)
}

// injectDefs writes tasks of kind noop with the given raw defs into the
// SQLite store file at path, as a task creator with write access to the
// file could, and returns their ids by name.
func injectDefs(t *testing.T, path, pool string, defs map[string][]byte) map[string]string {
	t.Helper()
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	require.NoError(t, err)
	defer s.Close()
	ids := make(map[string]string, len(defs))
	for name, def := range defs {
		created, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: pool, Now: time.Now(), Tasks: []taskstate.NewTask{{
			ID: taskstate.NewID(), Kind: "noop", Key: "bomb " + name, Def: def, Filter: map[string]any{"bomb": name}, MaxAttempts: 3,
		}}})
		require.NoError(t, err)
		require.True(t, created[0].Created)
		ids[name] = created[0].ID
	}
	return ids
}

// TestCreateInvalidUTF8: a task file whose def holds invalid UTF-8 is bad
// input (exit 2) naming the file, line and column, and creates nothing
// (the two defs, which differ only in invalid bytes, used to be one task).
func TestCreateInvalidUTF8(t *testing.T) {
	c := newCluster(t)
	c.create([]spec{{Kind: "noop", Def: map[string]any{"seq": 1}}})
	path := filepath.Join(c.dir, "bad-utf8.json")
	require.NoError(t, os.WriteFile(path, []byte("[{\"kind\": \"noop\", \"def\": {\"model\": {\"name\": \"a\xffb\"}}},\n"+
		" {\"kind\": \"noop\", \"def\": {\"model\": {\"name\": \"a\xfeb\"}}}]\n"), 0o644))
	r := c.dispatcher("create", "-f", path)
	require.Equal(t, 2, r.Code, r.String())
	require.Contains(t, r.Stderr, "bad-utf8.json:1:47: invalid UTF-8 (byte 0xff)")
	require.Equal(t, map[string]int{"waiting": 1}, nonZero(c.stat()), "nothing created")
}

func nonZero(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
