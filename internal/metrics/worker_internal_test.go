package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestInFlightAddsUpAcrossWorkersOfAPool(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	a, err := NewWorker(reg, "p", nil)
	require.NoError(t, err)
	b, err := NewWorker(reg, "p", nil)
	require.NoError(t, err)

	a.InFlight(1)
	a.InFlight(2)
	b.InFlight(4)
	require.InDelta(t, 6.0, testutil.ToFloat64(a.inFlight), 0)
	a.InFlight(0)
	require.InDelta(t, 4.0, testutil.ToFloat64(b.inFlight), 0)
	b.InFlight(0)
	require.InDelta(t, 0.0, testutil.ToFloat64(a.inFlight), 0)

	a.Claimed(2)
	b.Claimed(1)
	require.InDelta(t, 3.0, testutil.ToFloat64(a.claimed), 0, "one series per pool")
}
