package collect_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/collect"
)

// duckdbVersion is the @duckdb/node-api release the interop tests install.
const duckdbVersion = "1.5.6-r.1"

// duckdb returns a function running testdata/duckdb.js with DuckDB's Node
// API, installed with npm on first use into the user cache directory. It
// skips the test when node is not installed.
func duckdb(t *testing.T) func(args ...string) []byte {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the DuckDB interop test needs node and npm (Debian: apt-get install nodejs npm)")
	}
	cache, err := os.UserCacheDir()
	require.NoError(t, err)
	dir := filepath.Join(cache, "taskfleet", "npm", "duckdb-node-api-"+duckdbVersion)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api", "package.json")); errors.Is(err, os.ErrNotExist) {
		npm, err := exec.LookPath("npm")
		require.NoError(t, err, "node is installed but npm is not: apt-get install npm")
		require.NoError(t, os.MkdirAll(filepath.Dir(dir), 0o755))
		// Install beside the final directory and rename, so a concurrent
		// test process never sees a half-installed package.
		tmp, err := os.MkdirTemp(filepath.Dir(dir), ".install-*") //nolint:usetesting // beside the cache dir, so the rename stays on one file system
		require.NoError(t, err)
		defer os.RemoveAll(tmp)
		cmd := exec.Command(npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", tmp, "@duckdb/node-api@"+duckdbVersion)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "npm install @duckdb/node-api@%s:\n%s", duckdbVersion, out)
		if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
			_, statErr := os.Stat(dir)
			require.NoError(t, statErr, "install DuckDB into %s: %v", dir, err)
		}
	}
	script, err := filepath.Abs(filepath.Join("testdata", "duckdb.js"))
	require.NoError(t, err)
	return func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(node, append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "node duckdb.js %v: %s", args, stderr.String())
		return out
	}
}

// pandasMeta is the part of pyarrow's "pandas" metadata pandas reads back.
type pandasMeta struct {
	IndexColumns []string `json:"index_columns"`
	Columns      []struct {
		Name       string `json:"name"`
		FieldName  string `json:"field_name"`
		PandasType string `json:"pandas_type"`
		NumpyType  string `json:"numpy_type"`
	} `json:"columns"`
}

// TestParquetReadByDuckDB reads WriteParquet's output with DuckDB: column
// names and types, row count, values, the pandas metadata and the Parquet
// schema are what pandas needs to rebuild Qlib's pred.pkl layout.
func TestParquetReadByDuckDB(t *testing.T) {
	run := duckdb(t)
	in := lframe(
		lrow("2020-01-02", "SH600000", 0.25, -0.01),
		lrow("2020-01-02", "SZ000001", -1.5, math.NaN()),
		collect.Row{Datetime: time.Date(2020, 1, 3, 9, 30, 0, 0, time.UTC), Instrument: "SH600000", Score: 3, Label: 0.02},
	)
	path := filepath.Join(t.TempDir(), "pred.parquet")
	require.NoError(t, os.WriteFile(path, parquetBytes(t, in), 0o644))

	var got struct {
		Columns []struct{ Name, Type string }
		Rows    []map[string]any
		KV      map[string]string
		Schema  []struct {
			Name           string  `json:"name"`
			LogicalType    *string `json:"logical_type"`
			RepetitionType *string `json:"repetition_type"`
		}
	}
	require.NoError(t, json.Unmarshal(run("read", path), &got))

	require.Equal(t, []struct{ Name, Type string }{
		{"datetime", "TIMESTAMP_NS"}, {"instrument", "VARCHAR"}, {"score", "DOUBLE"}, {"label", "DOUBLE"},
	}, got.Columns)
	require.Equal(t, []map[string]any{
		{"dt": "2020-01-02 00:00:00", "instrument": "SH600000", "score": 0.25, "label": -0.01},
		{"dt": "2020-01-02 00:00:00", "instrument": "SZ000001", "score": -1.5, "label": nil},
		{"dt": "2020-01-03 09:30:00", "instrument": "SH600000", "score": 3.0, "label": 0.02},
	}, got.Rows)

	// A naive (not UTC-adjusted) nanosecond timestamp: pandas' datetime64[ns].
	for _, col := range got.Schema {
		if col.Name == "datetime" {
			require.NotNil(t, col.LogicalType)
			require.Contains(t, *col.LogicalType, "isAdjustedToUTC=0")
			require.Contains(t, *col.LogicalType, "NANOS=NanoSeconds()")
		}
	}

	raw, ok := got.KV["pandas"]
	require.True(t, ok, "no pandas metadata in %v", got.KV)
	var meta pandasMeta
	require.NoError(t, json.Unmarshal([]byte(raw), &meta))
	require.Equal(t, []string{"datetime", "instrument"}, meta.IndexColumns)
	types := map[string][2]string{}
	for _, c := range meta.Columns {
		require.Equal(t, c.Name, c.FieldName)
		types[c.Name] = [2]string{c.PandasType, c.NumpyType}
	}
	require.Equal(t, map[string][2]string{
		"score":      {"float64", "float64"},
		"label":      {"float64", "float64"},
		"datetime":   {"datetime", "datetime64[ns]"},
		"instrument": {"unicode", "object"},
	}, types)
}

// TestReadParquetWrittenByDuckDB reads a file another writer made: optional
// columns, a float label, an extra column, rows out of order.
func TestReadParquetWrittenByDuckDB(t *testing.T) {
	run := duckdb(t)
	path := filepath.Join(t.TempDir(), "pred.parquet")
	run("write", path)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := collect.ReadParquet(bytes.NewReader(data), int64(len(data)), collect.ReadOptions{Name: "pred.parquet"})
	require.NoError(t, err)
	require.True(t, f.HasLabel)
	require.Len(t, f.Rows, 3)
	require.Equal(t, day("2020-01-03"), f.Rows[0].Datetime)
	require.Equal(t, "SZ000001", f.Rows[0].Instrument)
	require.Equal(t, 0.5, f.Rows[0].Score)
	require.True(t, math.IsNaN(f.Rows[0].Label))
	require.Equal(t, -1.25, f.Rows[1].Score)
	require.Equal(t, 0.25, f.Rows[1].Label)
	require.True(t, math.IsNaN(f.Rows[2].Score))
	require.Equal(t, 2.0, f.Rows[2].Label)
}

// TestParquetReadByPandas checks pd.read_parquet where pyarrow is installed.
func TestParquetReadByPandas(t *testing.T) {
	if err := exec.Command("python3", "-c", "import pandas, pyarrow").Run(); err != nil {
		t.Skip("pandas with pyarrow is not importable by python3; TestParquetReadByDuckDB covers the file")
	}
	in := lframe(lrow("2020-01-02", "SH600000", 0.25, -0.01), lrow("2020-01-03", "SZ000001", -1.5, math.NaN()))
	path := filepath.Join(t.TempDir(), "pred.parquet")
	require.NoError(t, os.WriteFile(path, parquetBytes(t, in), 0o644))
	script := `
import sys, pandas as pd
df = pd.read_parquet(sys.argv[1])
print(list(df.index.names), str(df.index.levels[0].dtype), list(df.columns), str(df["score"].dtype), len(df))
print(df.loc[(pd.Timestamp("2020-01-03"), "SZ000001"), "score"])
`
	out, err := exec.Command("python3", "-c", script, path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Equal(t, "['datetime', 'instrument'] datetime64[ns] ['score', 'label'] float64 2", lines[0])
	require.Equal(t, "-1.5", lines[1])
}
