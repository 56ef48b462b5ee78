package metrics_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/taskfleet/taskfleet/internal/metrics"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// TestPausedCollector reads taskfleet_pool_paused from a real store: 1 for
// the paused pool, 0 for the others, and 0 again after a resume.
func TestPausedCollector(t *testing.T) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	c := metrics.NewPausedCollector(s.PoolState, metrics.StaticPools("a", "b"), time.Second, zaptest.NewLogger(t))
	require.NoError(t, s.SetPaused(ctx, taskstate.SetPausedParams{Pool: "a", Paused: true, Now: time.Now()}))
	want := `
# HELP taskfleet_pool_paused 1 while the pool is paused (workers claim nothing from it), else 0; read from the store at scrape time.
# TYPE taskfleet_pool_paused gauge
taskfleet_pool_paused{pool="a"} 1
taskfleet_pool_paused{pool="b"} 0
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want)))
	require.NoError(t, s.SetPaused(ctx, taskstate.SetPausedParams{Pool: "a", Paused: false, Now: time.Now()}))
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(strings.Replace(want, `"a"} 1`, `"a"} 0`, 1))))
}
