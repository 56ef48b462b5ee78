//go:build unix

package e2e_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// requireJSONLines fails unless every line of stderr is a JSON object, and
// returns the records.
func requireJSONLines(t *testing.T, what, stderr string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for i, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "%s: stderr line %d is not JSON: %q", what, i+1, line)
		recs = append(recs, rec)
	}
	return recs
}

// hasMsg reports whether a record's message starts with prefix.
func hasMsg(recs []map[string]any, prefix string) bool {
	for _, r := range recs {
		if msg, _ := r["msg"].(string); strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// TestLogFormatJSONStderr: with --log-format json, every stderr line of
// `run` on the demo config, of `wait` with its progress and of a failing
// command is a JSON record; the results stay on stdout. Then wait on a
// mistyped pool or store path exits 2 and creates nothing.
func TestLogFormatJSONStderr(t *testing.T) {
	c := newCluster(t)
	demo, err := filepath.Abs("../../examples/rolling/demo.yaml")
	require.NoError(t, err)
	dir := t.TempDir()
	// The demo's embedded run: no --store, so it uses ./.taskfleet in dir.
	r := fleettest.Run(t, fleettest.Cmd{Path: c.bin.Dispatcher, Args: []string{"run", "-f", demo, "--log-format", "json"}, Env: fleettest.Env(), Dir: dir})
	require.Equal(t, 0, r.Code, "%s", r)
	recs := requireJSONLines(t, "run", r.Stderr)
	require.True(t, hasMsg(recs, "run: pool rolling_demo"), "the run's first note is a record\n%s", r.Stderr)
	require.True(t, hasMsg(recs, "wait: 24/24 finished"), "progress is a record\n%s", r.Stderr)
	require.Contains(t, r.Stdout, "TEST_IC", "the results stay on stdout")
	require.NotContains(t, r.Stdout, `"level"`, "no log record on stdout")

	store := "TASKFLEET_STORE=sqlite://" + filepath.Join(dir, ".taskfleet", "tasks.db")
	r = fleettest.Run(t, fleettest.Cmd{Path: c.bin.Dispatcher, Args: []string{"wait", "--pool", "rolling_demo", "--log-format", "json"}, Env: fleettest.Env(store)})
	require.Equal(t, 0, r.Code, "%s", r)
	recs = requireJSONLines(t, "wait", r.Stderr)
	require.True(t, hasMsg(recs, "wait: 24/24 finished"), "%s", r.Stderr)
	require.Contains(t, r.Stdout, "all 24 tasks finished")

	r = fleettest.Run(t, fleettest.Cmd{Path: c.bin.Dispatcher, Args: []string{"stat", "--pool", "nope", "--log-format", "json"}, Env: fleettest.Env(store)})
	require.Equal(t, 2, r.Code, "%s", r)
	recs = requireJSONLines(t, "stat", r.Stderr)
	require.True(t, hasMsg(recs, `dispatcher: --pool: no pool "nope"`), "the error is a record\n%s", r.Stderr)
	require.Equal(t, "error", recs[len(recs)-1]["level"])

	// A mistyped pool or store path: exit 2 naming it, nothing created.
	r = fleettest.Run(t, fleettest.Cmd{Path: c.bin.Dispatcher, Args: []string{"wait", "--pool", "rolling_dmeo", "--timeout", "10s"}, Env: fleettest.Env(store)})
	require.Equal(t, 2, r.Code, "%s", r)
	require.Contains(t, r.Stderr, `dispatcher: --pool: no pool "rolling_dmeo" in the store (it has rolling_demo;`)
	missing := filepath.Join(dir, "typo", "tasks.db")
	r = fleettest.Run(t, fleettest.Cmd{Path: c.bin.Dispatcher, Args: []string{"wait", "--store", "sqlite://" + missing, "--timeout", "10s"}, Env: fleettest.Env()})
	require.Equal(t, 2, r.Code, "%s", r)
	require.Contains(t, r.Stderr, "dispatcher: --store: no store at "+missing)
	require.NoDirExists(t, filepath.Dir(missing))
}
