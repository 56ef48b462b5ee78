package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/dataset"
)

func TestDatasetSynth(t *testing.T) {
	out := filepath.Join(t.TempDir(), "data", "panel.csv")
	code, _, stderr := run(t, nil, "dataset", "synth", "--out", out, "--start", "2020-01-06", "--end", "2020-01-17", "--instruments", "3", "--features", "2", "--seed", "5")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "30 rows (10 days × 3 instruments)")
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"datetime", "instrument", "f0", "f1", "label"}, recs[0])
	require.Len(t, recs, 31)
	require.Equal(t, []string{"2020-01-06", "S0000"}, recs[1][:2])
	require.Equal(t, []string{"2020-01-17", "S0002"}, recs[30][:2])

	// The panel is the one the linear kind builds from the same spec: it reads back equal.
	p, err := dataset.LoadCSV(out)
	require.NoError(t, err)
	require.Len(t, p.Rows, 30)
	code, stdout, _ := run(t, nil, "dataset", "synth", "--out", "-", "--start", "2020-01-06", "--end", "2020-01-17", "--instruments", "3", "--features", "2", "--seed", "5")
	require.Equal(t, 0, code)
	again, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, string(again), stdout, "the same flags give the same panel")
	code, stdout, _ = run(t, nil, "dataset", "--out", "-", "--start", "2020-01-06", "--end", "2020-01-17", "--instruments", "3", "--features", "2", "--seed", "6")
	require.Equal(t, 0, code)
	require.NotEqual(t, string(again), stdout, "another seed, another panel")
}

func TestDatasetSynthBadFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p.csv")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dataset", "bogus"}, `unknown subcommand "bogus"`},
		{[]string{"dataset", "synth"}, "--out: the CSV file to write is required"},
		{[]string{"dataset", "synth", "--out", out, "--start", "2020-13-01"}, "--start"},
		{[]string{"dataset", "synth", "--out", out, "--end", "2018-01-01"}, "--end: 2018-01-01 is before --start 2018-12-03"},
		{[]string{"dataset", "synth", "--out", out, "--instruments", "0"}, "--instruments: 0"},
		{[]string{"dataset", "synth", "--out", out, "--snr", "-1"}, `--snr: "-1"`},
		{[]string{"dataset", "synth", "--out", out, "--instruments", "100000", "--end", "2100-01-01"}, "more than 50 million rows"},
		{[]string{"dataset", "synth", "--out", out, "--bogus"}, "flag provided but not defined: -bogus"},
	} {
		code, _, stderr := run(t, nil, tc.args...)
		require.Equal(t, 2, code, "%v: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.want, "%v", tc.args)
	}
	_, err := os.Stat(out)
	require.True(t, os.IsNotExist(err), "nothing written on bad flags")
}
