package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStallWatch: a count that moves is never a stall, however long the
// run; one that stays put is, once past the limit, and not before.
func TestStallWatch(t *testing.T) {
	t0 := time.Unix(1_000, 0)
	w := stallWatch{limit: time.Minute}
	require.NoError(t, w.check(0, t0))
	require.NoError(t, w.check(5, t0.Add(50*time.Second)))
	require.NoError(t, w.check(9, t0.Add(100*time.Second)), "it moved within the minute")
	require.NoError(t, w.check(9, t0.Add(160*time.Second)), "exactly the limit is not past it")
	require.EqualError(t, w.check(9, t0.Add(161*time.Second)), "no task finished for 1m1s")
	require.NoError(t, w.check(10, t0.Add(170*time.Second)), "moving again")
}
