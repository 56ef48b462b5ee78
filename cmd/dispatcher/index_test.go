package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIndexCommand: index declares per-pool path indexes, lists them, and
// refuses a path it cannot index with exit 2 naming it.
func TestIndexCommand(t *testing.T) {
	env := storeEnv(t)
	file := writeFile(t, `[{"kind": "noop", "def": {"model": {"class": "LGB"}}}, {"kind": "noop", "def": {"model": {"class": "Lin"}}}]`)
	code, _, errOut := run(t, env, "create", "--pool", "p", "-f", file)
	require.Equal(t, 0, code, errOut)

	code, out, errOut := run(t, env, "index", "--pool", "p", "--path", "model.class,dataset.class", "-o", "json")
	require.Equal(t, 0, code, errOut)
	require.JSONEq(t, `{"indexes": ["filter.dataset.class", "filter.model.class"]}`, out)
	code, out, _ = run(t, env, "index", "--pool", "other", "-o", "json")
	require.Equal(t, 0, code)
	require.JSONEq(t, `{"indexes": []}`, out, "indexes are per pool")

	code, out, errOut = run(t, env, "stat", "--pool", "p", "--filter", `{"filter.model.class": "LGB"}`, "-o", "json")
	require.Equal(t, 0, code, errOut)
	require.JSONEq(t, `{"waiting":1,"running":0,"part_done":0,"done":0,"failed":0}`, out)

	code, _, errOut = run(t, env, "index", "--pool", "p", "--path", "model.0")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `--path model.0`)
	require.Contains(t, errOut, `element "0" is a number`)
}
