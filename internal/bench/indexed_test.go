package bench_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/bench"
)

// TestFilteredCountsItsPool: the filtered scenario counts what it created
// (the scenario itself fails on a count that differs from what it made)
// and reports each figure; "all" leaves it out.
func TestFilteredCountsItsPool(t *testing.T) {
	t.Parallel()
	cfg := tiny(t)
	cfg.Scenarios = []bench.Scenario{bench.Filtered}
	cfg.NoEvents = true
	res, err := bench.Run(t.Context(), cfg, nil)
	require.NoError(t, err)
	f := res.Filtered
	require.NotNil(t, f)
	require.Equal(t, 400, f.Tasks)
	require.Equal(t, 1, f.IDs, "one id every 997 tasks")
	require.Positive(t, f.IDList)
	require.Positive(t, f.Path)
	require.Positive(t, f.StatusKind)
	require.Positive(t, f.PeakRSSMiB)
	var out bytes.Buffer
	require.NoError(t, bench.WriteTable(&out, res))
	require.Contains(t, out.String(), "model.class (indexed) count")

	all, err := bench.ParseScenarios("all")
	require.NoError(t, err)
	require.NotContains(t, all, bench.Filtered)
	require.NotContains(t, all, bench.Multiproc)
}
