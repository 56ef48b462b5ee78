package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// run runs the dispatcher in-process with env and returns its exit code
// and output.
func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code = m.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

func storeEnv(t *testing.T) map[string]string {
	return map[string]string{"TASKFLEET_STORE": "sqlite://" + filepath.Join(t.TempDir(), "tasks.db"), "TASKFLEET_LOG_LEVEL": "warn"}
}

func TestUsageErrorsExit2(t *testing.T) {
	env := storeEnv(t)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"nope"}, env, `unknown command "nope"`},
		{[]string{"stat", "--bogus"}, env, "flag provided but not defined: -bogus"},
		{[]string{"stat", "--store", "postgres://u:pw@h/db"}, env, "--store: unsupported store"},
		{[]string{"stat"}, map[string]string{"TASKFLEET_STORE": "redis://x"}, "TASKFLEET_STORE: unsupported store"},
		{[]string{"stat", "-o", "yaml"}, env, "-o: unknown output format"},
		{[]string{"stat", "--pool", "a.b"}, env, "--pool"},
		{[]string{"query", "--filter", `{"_id": "xyz"}`}, env, "_id"},
		{[]string{"query", "--filter", `{"filter.a": {"$regex": 1}}`}, env, "filter.a"},
		{[]string{"remove"}, env, "--all"},
		{[]string{"reset-status", "--status", "finished", "--allow-missing"}, env, "--status"},
		{[]string{"create"}, env, "-f"},
		{[]string{"wait", "--timeout", "soon"}, env, "invalid value"},
		{[]string{"gen", "-f", "missing.yaml"}, env, "missing.yaml"},
		{[]string{"run", "-f", "../../examples/rolling/demo.yaml", "--store", "sqlite://x.db"}, nil, "--store without --nats: say --mode fleet"},
		{[]string{"run", "-f", "../../examples/rolling/demo.yaml"}, env, "TASKFLEET_STORE without --nats"},
		{[]string{"run", "-f", "../../examples/rolling/demo.yaml", "--mode", "embedded", "--nats", "nats://h:1"}, env, "--mode: embedded runs its own in-process NATS"},
		{[]string{"run", "-f", "../../examples/rolling/demo.yaml", "--mode", "cloud"}, env, `--mode: unknown mode "cloud"`},
		{[]string{"run", "-f", "../../examples/rolling/demo.yaml"}, map[string]string{"TASKFLEET_POOL": "default"}, "TASKFLEET_POOL=default but ../../examples/rolling/demo.yaml says pool: rolling_demo"},
	} {
		code, _, stderr := run(t, tc.env, tc.args...)
		require.Equal(t, 2, code, "%v: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.want, "%v", tc.args)
		require.NotContains(t, stderr, "pw@", "credentials are redacted")
	}
}

func TestCreateStatQueryJSON(t *testing.T) {
	env := storeEnv(t)
	file := filepath.Join(t.TempDir(), "tasks.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
- kind: sleep
  def: {duration: 1ms}
- kind: noop
  def: {a: 1}
  priority: 5
  max_attempts: 0
- kind: sleep
  def: {duration: 1ms}
`), 0o644))
	code, out, errOut := run(t, env, "create", "--pool", "p", "-f", file, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var ids []string
	require.NoError(t, json.Unmarshal([]byte(out), &ids))
	require.Len(t, ids, 3)
	require.Equal(t, ids[0], ids[2], "a duplicate def gets the existing id")

	code, out, _ = run(t, env, "stat", "--pool", "p", "-o", "json")
	require.Equal(t, 0, code)
	require.JSONEq(t, `{"waiting":2,"running":0,"part_done":0,"done":0,"failed":0}`, out)
	require.True(t, strings.HasPrefix(strings.TrimSpace(out), `{"waiting":`), "statuses in lifecycle order: %s", out)

	code, out, _ = run(t, env, "query", "--pool", "p", "--filter", `{"kind": "noop"}`, "-o", "json")
	require.Equal(t, 0, code)
	var tasks []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &tasks))
	require.Len(t, tasks, 1)
	for _, k := range []string{"id", "status", "kind", "priority", "attempts", "last_error", "owner", "filter"} {
		require.Contains(t, tasks[0], k)
	}
	require.Equal(t, ids[1], tasks[0]["id"])
	require.Equal(t, float64(5), tasks[0]["priority"])
	require.Equal(t, float64(0), tasks[0]["max_attempts"], "max_attempts 0 is unlimited")

	code, out, _ = run(t, env, "prioritize", "--pool", "p", "--priority", "9", ids[0], "-o", "json")
	require.Equal(t, 0, code)
	require.JSONEq(t, `{"matched":1}`, out)

	code, out, _ = run(t, env, "get", "--pool", "p", ids[0], ids[1])
	require.Equal(t, 0, code)
	require.Equal(t, 2, strings.Count(out, "FIELD"), "get with two ids prints two tables, not JSON: %s", out)
	require.Contains(t, out, ids[0])
	require.Contains(t, out, ids[1])

	code, out, _ = run(t, env, "wait", "--pool", "p", "--timeout", "50ms", "--quiet")
	require.Equal(t, 3, code)
	require.Contains(t, out, ids[0], "the stuck tasks are named")

	code, _, _ = run(t, env, "remove", "--pool", "p", "--all")
	require.Equal(t, 0, code)
	code, out, _ = run(t, env, "wait", "--pool", "p", "--timeout", "1m")
	require.Equal(t, 0, code, "an empty pool is finished")
	require.Contains(t, out, "all 0 tasks finished")

	code, _, stderr := run(t, env, "create", "--pool", "p", "-f", writeFile(t, "- kind: sleep\n  def: {duration: 1ms}\n- kind: 7\n  def: {}\n"))
	require.Equal(t, 2, code)
	require.Regexp(t, `tasks\.yaml:3: \[1\]: kind is required`, stderr)
}

func writeFile(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "tasks.yaml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestGen(t *testing.T) {
	cfg := filepath.Join("..", "..", "examples", "rolling", "demo.yaml")
	code, out, errOut := run(t, nil, "gen", "-f", cfg, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var specs []struct {
		Kind        string         `json:"kind"`
		Def         map[string]any `json:"def"`
		MaxAttempts int            `json:"max_attempts"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &specs))
	require.Len(t, specs, 24)
	require.Equal(t, "linear", specs[0].Kind)
	require.Equal(t, 3, specs[0].MaxAttempts)
	seg := specs[0].Def["dataset"].(map[string]any)["kwargs"].(map[string]any)["segments"].(map[string]any)
	require.Equal(t, []any{"2020-04-01", "2020-05-26"}, seg["test"])

	code, out, _ = run(t, nil, "gen", "-f", cfg)
	require.Equal(t, 0, code)
	require.Contains(t, out, "[2020-04-01, 2020-05-26]")

	bad := writeFile(t, "calendar: {start: 2020-01-01, end: 2020-12-31}\ntasks:\n  - dataset: {kwargs: {segments: {test: [2020-02-01, null]}}}\ngenerators:\n  - {type: rolling, step: 0}\n")
	code, _, stderr := run(t, nil, "gen", "-f", bad)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "tasks.yaml:5")
	require.Contains(t, stderr, "generators[0].step")
}

func TestRunDemoEmbedded(t *testing.T) {
	dir := t.TempDir()
	cfgText, err := os.ReadFile(filepath.Join("..", "..", "examples", "rolling", "demo.yaml"))
	require.NoError(t, err)
	out := filepath.Join(dir, "pred.csv")
	cfg := filepath.Join(dir, "demo.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(strings.Replace(string(cfgText), "out/rolling_demo_pred.parquet", out, 1)), 0o644))
	env := map[string]string{"TASKFLEET_LOG_LEVEL": "warn"}
	// The default store is relative to the working directory; use a temp one.
	t.Chdir(dir)
	code, stdout, stderr := run(t, env, "run", "-f", cfg, "-o", "json")
	require.Equal(t, 0, code, stderr)
	var res struct {
		Tasks     int            `json:"tasks"`
		Counts    map[string]int `json:"counts"`
		Collected struct {
			IC   float64 `json:"ic"`
			Rows int     `json:"rows"`
		} `json:"collected"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	require.Equal(t, 24, res.Counts["done"])
	require.Greater(t, res.Collected.IC, 0.15)
	_, err = os.Stat(filepath.Join(dir, ".taskfleet", "tasks.db"))
	require.NoError(t, err, "the embedded default store")
	csv, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, res.Collected.Rows+1, strings.Count(string(csv), "\n"), "header plus one line per prediction")

	// --until on the pool that has the windows: the calendar has not grown,
	// so nothing follows the latest (open) windows; every window is
	// collected again.
	code, stdout, stderr = run(t, env, "run", "-f", cfg, "--until", "2021-12-31", "-o", "json")
	require.Equal(t, 0, code, stderr)
	var online struct {
		Online bool `json:"online"`
		Added  int  `json:"windows_added"`
		Tasks  int  `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &online))
	require.True(t, online.Online)
	require.Zero(t, online.Added)
	require.Zero(t, online.Tasks)
	require.Contains(t, stdout, `"rows": `+strconv.Itoa(res.Collected.Rows))

	code, _, stderr = run(t, env, "run", "-f", cfg, "--until", "2021-02-30")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "--until: ")
}

func TestVersionHelpAndOnePrefix(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		code, stdout, stderr := run(t, nil, arg)
		require.Equal(t, 0, code, stderr)
		require.True(t, strings.HasPrefix(stdout, "dispatcher "), "%s: %q", arg, stdout)
	}
	code, _, stderr := run(t, nil, "--help")
	require.Equal(t, 0, code, "--help is not an error")
	require.Contains(t, stderr, "Commands:")

	code, _, stderr = run(t, storeEnv(t), "stat", "--bogus")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "dispatcher stat: flag provided but not defined")
	require.NotContains(t, stderr, "dispatcher: dispatcher", "the program's name is printed once")
}
