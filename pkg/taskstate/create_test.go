package taskstate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// A batch big enough to be prepared on several goroutines behaves as one
// prepared in order: duplicates anywhere in it share the first one's id,
// keys match Key, and the first invalid spec in input order is the error.
func TestCreateLargeBatch(t *testing.T) {
	m := newManager(t, "p")
	ctx := context.Background()
	const n = 3000
	specs := make([]taskstate.TaskSpec, n)
	for i := range specs {
		specs[i] = taskstate.TaskSpec{Kind: "noop", Def: map[string]any{"i": i % 1000, "model": "Linear"}}
	}
	res, err := m.Create(ctx, specs, taskstate.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, 1000, res.NewCount)
	for i := 1000; i < n; i++ {
		require.Equal(t, res.IDs[i%1000], res.IDs[i], "spec %d is a duplicate of spec %d", i, i%1000)
		require.False(t, res.New[i])
	}
	got, err := m.Get(ctx, res.IDs[777])
	require.NoError(t, err)
	require.Equal(t, taskstate.Key("noop", map[string]any{"i": 777.0, "model": "Linear"}), got.Key)
	require.Equal(t, map[string]any{"i": 777.0, "model": "Linear"}, got.Filter)

	bad := make([]taskstate.TaskSpec, n)
	for i := range bad {
		bad[i] = taskstate.TaskSpec{Kind: "noop", Def: map[string]any{"j": i}}
	}
	bad[2900].Kind = ""
	bad[1700].Def = nil
	_, err = m.Create(ctx, bad, taskstate.CreateOptions{})
	require.ErrorIs(t, err, taskstate.ErrInvalidTask)
	require.ErrorContains(t, err, "task 1700: def is required")
	c, err := m.Stat(ctx, taskstate.Query{})
	require.NoError(t, err)
	require.Equal(t, 1000, c.Total(), "an invalid batch creates nothing")
}
