package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// pipe runs the dispatcher in-process with stdin.
func pipe(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code = m.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

// TestGenPipesIntoCreate: `dispatcher gen -o json | dispatcher create -f -`
// creates what `run` would, and a second pipe reuses every task.
func TestGenPipesIntoCreate(t *testing.T) {
	env := storeEnv(t)
	for _, tc := range []struct {
		cfg, kind string
		tasks     int
	}{
		{filepath.Join("..", "..", "examples", "rolling", "demo.yaml"), "linear", 24},
		{filepath.Join("..", "..", "pkg", "rolling", "testdata", "gen.yaml"), "linear", 0},
		{filepath.Join("..", "..", "examples", "qlib", "workflow_config_lightgbm_Alpha158.yaml"), "train", 4},
	} {
		code, gen, stderr := run(t, nil, "gen", "-f", tc.cfg, "-o", "json")
		require.Equal(t, 0, code, stderr)
		var specs []map[string]any
		require.NoError(t, json.Unmarshal([]byte(gen), &specs))
		if tc.tasks > 0 {
			require.Len(t, specs, tc.tasks, tc.cfg)
		}
		pool := strings.TrimSuffix(filepath.Base(tc.cfg), ".yaml")
		pool = strings.NewReplacer(".", "_").Replace(pool)
		code, out, stderr := pipe(t, env, gen, "create", "--pool", pool, "-f", "-", "-o", "json")
		require.Equal(t, 0, code, "%s: %s", tc.cfg, stderr)
		var ids []string
		require.NoError(t, json.Unmarshal([]byte(out), &ids))
		require.Len(t, ids, len(specs))

		code, out, _ = run(t, env, "query", "--pool", pool, "-o", "json")
		require.Equal(t, 0, code)
		var tasks []map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &tasks))
		require.Len(t, tasks, len(specs))
		for _, task := range tasks {
			require.Equal(t, tc.kind, task["kind"])
		}
		require.Equal(t, specs[0]["def"], tasks[0]["filter"], "the def is created as gen printed it")

		code, out, stderr = pipe(t, env, gen, "create", "--pool", pool, "-f", "-", "--dry-run", "-o", "json")
		require.Equal(t, 0, code, stderr)
		var dry struct {
			IDs []string `json:"ids"`
			New []bool   `json:"new"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &dry))
		require.Equal(t, ids, dry.IDs, "the same defs again are the same tasks")
		require.NotContains(t, dry.New, true)
	}

	// --kind names the kind of a generation config's tasks.
	code, gen, _ := run(t, nil, "gen", "-f", filepath.Join("..", "..", "pkg", "rolling", "testdata", "gen.yaml"), "-o", "json", "--kind", "train")
	require.Equal(t, 0, code)
	require.Contains(t, gen, `"kind": "train"`)
	require.NotContains(t, gen, `"kind": "linear"`)
}

// TestGenQlibWorkflow: a Qlib workflow config as qrun reads it, with a
// taskfleet: section, generates the rolling tasks with Qlib's task dict
// intact but for the rolled segments and handler end_time.
func TestGenQlibWorkflow(t *testing.T) {
	cfg := filepath.Join("..", "..", "examples", "qlib", "workflow_config_lightgbm_Alpha158.yaml")
	code, out, stderr := run(t, map[string]string{"TASKFLEET_LOG_LEVEL": "debug"}, "gen", "-f", cfg, "-o", "json")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "keys taskfleet does not read", "the unused Qlib keys are listed at debug")
	require.Contains(t, stderr, `"qlib_init"`)
	require.Equal(t, 1, strings.Count(stderr, "keys taskfleet does not read"), "listed once")
	var specs []struct {
		Kind        string         `json:"kind"`
		Def         map[string]any `json:"def"`
		MaxAttempts int            `json:"max_attempts"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &specs))
	require.Len(t, specs, 4)
	var tests [][]any
	for _, s := range specs {
		require.Equal(t, "train", s.Kind)
		require.Equal(t, 2, s.MaxAttempts)
		d := s.Def
		require.ElementsMatch(t, []string{"model", "dataset", "record"}, keys(d))
		model := d["model"].(map[string]any)
		require.Equal(t, "LGBModel", model["class"])
		require.Equal(t, "qlib.contrib.model.gbdt", model["module_path"])
		require.Equal(t, 210.0, model["kwargs"].(map[string]any)["num_leaves"])
		kw := d["dataset"].(map[string]any)["kwargs"].(map[string]any)
		h := kw["handler"].(map[string]any)
		require.Equal(t, "Alpha158", h["class"])
		require.Equal(t, "csi300", h["kwargs"].(map[string]any)["instruments"], "the *market alias, expanded")
		require.Equal(t, "2014-12-31", h["kwargs"].(map[string]any)["fit_end_time"])
		rec := d["record"].([]any)
		require.Len(t, rec, 3)
		port := rec[2].(map[string]any)["kwargs"].(map[string]any)["config"].(map[string]any)
		require.Equal(t, "SH000300", port["backtest"].(map[string]any)["benchmark"], "the *port_analysis_config and *benchmark aliases")
		require.Equal(t, "<PRED>", port["strategy"].(map[string]any)["kwargs"].(map[string]any)["signal"])
		tests = append(tests, kw["segments"].(map[string]any)["test"].([]any))
	}
	require.Equal(t, [][]any{
		{"2017-01-02", "2017-12-15"}, {"2017-12-18", "2018-11-30"}, {"2018-12-03", "2019-11-15"}, {"2019-11-18", nil},
	}, tests, "250-day test windows from the first trading day of 2017")

	// Errors point into the file: the taskfleet section and the task.
	base, err := os.ReadFile(cfg)
	require.NoError(t, err)
	for _, tc := range []struct{ old, new, want string }{
		{"step: 250", "step: 0", `:93: taskfleet.generators[0].step: must be > 0`},
		{"test: [2017-01-01, 2020-08-01]", "test: [2030-01-01, null]", `:64: task.dataset.kwargs.segments.test[0]: rolling: date outside the calendar`},
		{"    max_attempts: 2", "    max_attemps: 2", `:101: taskfleet.max_attemps: unknown key`}, //nolint:misspell // the misspelt key is the input
		{"    max_attempts: 2", "    max_attempts: many", `:101: taskfleet.max_attempts: want an integer, got "many"`},
		{"    pool: lgb_alpha158", "    pool: a.b", `:84: taskfleet.pool: taskstate: invalid pool name`},
		{"taskfleet:\n", "taskfleetx:\n", `:39: task: a Qlib workflow config runs here with a taskfleet: section added`},
	} {
		bad := writeFile(t, strings.Replace(string(base), tc.old, tc.new, 1))
		code, _, stderr := run(t, nil, "gen", "-f", bad)
		require.Equal(t, 2, code, "%s: %s", tc.new, stderr)
		require.Contains(t, stderr, bad+tc.want)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestGenFollowingUntil: with following_until the templates are existing
// windows and gen prints only their successors up to that test end; a bad
// date is a usage error naming the key and line.
func TestGenFollowingUntil(t *testing.T) {
	cfg := `calendar: {start: 2020-01-01, end: 2020-03-31}
following_until: %s
tasks:
  - model: {class: M}
    dataset:
      kwargs:
        segments:
          train: [2020-01-01, 2020-01-31]
          test: [2020-02-03, 2020-02-14]
generators:
  - {type: rolling, step: 10, rtype: sliding}
`
	// Business days: 02-03..02-14 is 10 days; successors start 02-17
	// and 03-02, the next (03-16) is after 03-13.
	code, out, stderr := run(t, nil, "gen", "-f", writeFile(t, strings.Replace(cfg, "%s", "2020-03-13", 1)), "-o", "json")
	require.Equal(t, 0, code, stderr)
	var specs []struct {
		Def map[string]any `json:"def"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &specs))
	var tests []any
	for _, s := range specs {
		tests = append(tests, s.Def["dataset"].(map[string]any)["kwargs"].(map[string]any)["segments"].(map[string]any)["test"])
	}
	require.Equal(t, []any{[]any{"2020-02-17", "2020-02-28"}, []any{"2020-03-02", "2020-03-13"}}, tests)

	bad := writeFile(t, strings.Replace(cfg, "%s", "2020-02-30", 1))
	code, _, stderr = run(t, nil, "gen", "-f", bad)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, bad+":2: following_until: ")
}

// TestGenHasNoStoreFlags: gen reads no store and no NATS, so its help lists
// none of their flags and giving one is an error.
func TestGenHasNoStoreFlags(t *testing.T) {
	code, _, stderr := run(t, nil, "gen", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, stderr, "-f string")
	for _, f := range []string{"-store", "-nats", "-pool", "-db"} {
		require.NotContains(t, stderr, "\n  "+f+" ", "gen --help lists %s", f)
	}
	code, _, stderr = run(t, nil, "gen", "-f", "x.yaml", "--store", "sqlite://t.db")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "flag provided but not defined: -store")
}
