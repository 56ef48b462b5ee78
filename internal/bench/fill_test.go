package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFillTenths: the first and the last tenth are whole calls from each
// end until they hold a tenth of the tasks.
func TestFillTenths(t *testing.T) {
	var f fillTimes
	// 100 tasks: 4 calls of 5 (10 ms each), 70 in one call (100 ms), and
	// 2 calls of 5 (50 ms each).
	for range 4 {
		f.add(5, 10*time.Millisecond)
	}
	f.add(70, 100*time.Millisecond)
	f.add(5, 50*time.Millisecond)
	f.add(5, 50*time.Millisecond)
	first, last := f.tenths()
	require.InDelta(t, 500, first, 1e-9, "10 tasks in 20 ms")
	require.InDelta(t, 100, last, 1e-9, "10 tasks in 100 ms")
	require.Equal(t, 240*time.Millisecond, f.spent)

	var one fillTimes
	one.add(7, 7*time.Millisecond)
	first, last = one.tenths()
	require.InDelta(t, 1000, first, 1e-9)
	require.InDelta(t, 1000, last, 1e-9)

	first, last = (&fillTimes{}).tenths()
	require.Zero(t, first)
	require.Zero(t, last)
}

// TestThroughputEndMet: the end is met within TargetCreateEndDrop of the
// start, and when it was not measured.
func TestThroughputEndMet(t *testing.T) {
	require.True(t, (&Throughput{FirstTenthPerSec: 100, LastTenthPerSec: 71}).EndMet())
	require.False(t, (&Throughput{FirstTenthPerSec: 100, LastTenthPerSec: 69}).EndMet())
	require.True(t, (&Throughput{}).EndMet())
}
