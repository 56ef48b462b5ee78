package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func TestHistory(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	pub := b.conn.Notifier()
	pub.NotifyChange(t.Context(), "hist", taskstate.Change{Event: taskstate.EventCreated, N: 2, IDs: []string{"aa", "bb"}})
	pub.Notify(t.Context(), "other", taskstate.EventCreated, 5)
	pub.Notify(t.Context(), "hist", taskstate.EventCommitted, 1)
	eventually(t, func() bool { return value(t, b.reg, published, "hist", "committed") == 1 })

	read := func(p events.HistoryParams) []events.Record {
		var got []events.Record
		require.NoError(t, b.conn.History(ctxT(t), p, func(r events.Record) error {
			got = append(got, r)
			return nil
		}))
		return got
	}
	got := read(events.HistoryParams{Pool: "hist"})
	require.Len(t, got, 2, "only the pool's events, and the read ends at the last stored one")
	require.Equal(t, taskstate.EventCreated, got[0].Event)
	require.Equal(t, []string{"aa", "bb"}, got[0].IDs)
	require.Equal(t, 2, got[0].N)
	require.Equal(t, taskstate.EventCommitted, got[1].Event)
	require.Contains(t, got[0].String(), "created")

	require.Empty(t, read(events.HistoryParams{Pool: "hist", Since: time.Now().Add(time.Minute)}), "nothing after a future start")
	require.Empty(t, read(events.HistoryParams{Pool: "empty"}), "a pool without events returns at once")

	t.Run("follow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctxT(t))
		defer cancel()
		recs := make(chan events.Record, 10)
		done := make(chan error, 1)
		go func() {
			done <- b.conn.History(ctx, events.HistoryParams{Pool: "live", Follow: true}, func(r events.Record) error {
				recs <- r
				return nil
			})
		}()
		pub.NotifyChange(t.Context(), "live", taskstate.Change{Event: taskstate.EventFailed, N: 1, IDs: []string{"cc"}})
		select {
		case r := <-recs:
			require.Equal(t, taskstate.EventFailed, r.Event)
			require.Equal(t, []string{"cc"}, r.IDs)
		case <-time.After(10 * time.Second):
			t.Fatal("no followed event")
		}
		cancel()
		require.NoError(t, <-done)
	})
}
