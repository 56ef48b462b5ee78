package job

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/collect"
)

// days returns a frame of one instrument on n consecutive days from 2020-01-01.
func days(n int) *collect.Frame {
	f := &collect.Frame{}
	for i := range n {
		f.Rows = append(f.Rows, collect.Row{Datetime: time.Date(2020, 1, 1+i, 0, 0, 0, 0, time.UTC), Instrument: "A", Score: float64(i)})
	}
	return f
}

// Routines appending to one signal at once take turns: the file ends with
// every day of the longest frame exactly once, whichever finished last.
func TestSignalUpdatesTakeTurns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signal.csv")
	_, err := updateSignal(context.Background(), path, days(5), false, collect.ReadOptions{})
	require.NoError(t, err)
	const routines = 8
	var wg sync.WaitGroup
	for i := range routines {
		wg.Go(func() {
			_, err := updateSignal(context.Background(), path, days(6+i*3), false, collect.ReadOptions{})
			require.NoError(t, err)
		})
	}
	wg.Wait()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	seen := map[string]int{}
	for _, r := range recs[1:] {
		seen[r[0]]++
	}
	require.Len(t, seen, 6+(routines-1)*3, "every day of the longest frame")
	for d, n := range seen {
		require.Equal(t, 1, n, "day %s written %d times", d, n)
	}
}
