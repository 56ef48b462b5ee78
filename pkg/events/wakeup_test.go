package events_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

const received = "taskfleet_events_received_total"

func TestWakeup(t *testing.T) {
	t.Parallel()

	t.Run("a publish wakes a subscriber of its pool", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		w, err := b.conn.Wakeups(ctxT(t), "train", taskstate.EventCreated)
		require.NoError(t, err)

		b.conn.Notifier().Notify(t.Context(), "train", taskstate.EventCreated, 3)
		receive(t, w.C(), "wake-up")
		require.Equal(t, 1.0, value(t, b.reg, received, "train", "created"))
	})

	t.Run("events of another pool or event do not wake", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{Debounce: -1})
		w, err := b.conn.Wakeups(ctxT(t), "a", taskstate.EventCreated)
		require.NoError(t, err)

		pub := b.conn.Notifier()
		pub.Notify(t.Context(), "b", taskstate.EventCreated, 1)
		pub.Notify(t.Context(), "a", taskstate.EventCommitted, 1)
		pub.Notify(t.Context(), "ab", taskstate.EventCreated, 1)
		// Published last on the same connection, so delivered last: once
		// it has arrived, the others would have too.
		pub.Notify(t.Context(), "a", taskstate.EventCreated, 1)
		receive(t, w.C(), "wake-up")

		require.Equal(t, 1.0, value(t, b.reg, received, "a", "created"))
		for _, pe := range [][2]string{{"b", "created"}, {"a", "committed"}, {"ab", "created"}} {
			_, ok := metric(t, b.reg, received, map[string]string{"pool": pe[0], "event": pe[1]})
			require.False(t, ok, "%s.%s reached the subscriber", pe[0], pe[1])
		}
		require.Empty(t, w.C(), "a second wake-up")
	})

	t.Run("all four events wake when none are named", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{Debounce: -1})
		w, err := b.conn.Wakeups(ctxT(t), "p")
		require.NoError(t, err)
		for _, ev := range events.Events {
			b.conn.Notifier().Notify(t.Context(), "p", ev, 1)
			receive(t, w.C(), string(ev)+" wake-up")
		}
	})

	t.Run("many publishes coalesce into few wake-ups", func(t *testing.T) {
		t.Parallel()
		const n = 2000
		debounce := 5 * time.Millisecond
		b := setup(t, events.Config{Debounce: debounce})
		w, err := b.conn.Wakeups(ctxT(t), "burst", taskstate.EventCreated, taskstate.EventAvailable)
		require.NoError(t, err)

		var wakes atomic.Int64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-w.C():
					wakes.Add(1)
				case <-stop:
					return
				}
			}
		}()
		start := time.Now()
		for i := range n {
			ev := taskstate.EventCreated
			if i%2 == 1 {
				ev = taskstate.EventAvailable
			}
			b.conn.Notifier().Notify(t.Context(), "burst", ev, 1)
		}
		eventually(t, func() bool {
			return value(t, b.reg, received, "burst", "created")+value(t, b.reg, received, "burst", "available") == n
		}, "not every event arrived")
		elapsed := time.Since(start)
		// The trailing wake-up of the last interval comes within debounce.
		eventually(t, func() bool { return wakes.Load() > 0 })
		close(stop)
		<-done

		got := wakes.Load()
		limit := int64(elapsed/debounce) + 2 // one per interval, plus the leading and trailing edge
		t.Logf("%d events in %s gave %d wake-ups (bound %d)", n, elapsed, got, limit)
		require.Less(t, got, int64(n/10))
		require.LessOrEqual(t, got, limit)
	})

	t.Run("an unread wake-up absorbs every later event", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{Debounce: -1})
		w, err := b.conn.Wakeups(ctxT(t), "p", taskstate.EventCreated)
		require.NoError(t, err)
		for range 100 {
			b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 1)
		}
		eventually(t, func() bool { return value(t, b.reg, received, "p", "created") == 100 })
		require.Len(t, w.C(), 1)
		<-w.C()
		require.Empty(t, w.C())
	})

	t.Run("the last event of a burst is followed by a wake-up", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{Debounce: 50 * time.Millisecond})
		w, err := b.conn.Wakeups(ctxT(t), "p", taskstate.EventCreated)
		require.NoError(t, err)

		b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 1)
		receive(t, w.C(), "leading wake-up")
		// Within the debounce interval of the first signal: held back, then
		// signalled when the interval ends.
		b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 1)
		eventually(t, func() bool { return value(t, b.reg, received, "p", "created") == 2 })
		receive(t, w.C(), "trailing wake-up")
	})

	t.Run("close and context end stop it", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		ctx, cancel := context.WithCancel(t.Context())
		w, err := b.conn.Wakeups(ctx, "p")
		require.NoError(t, err)
		cancel()
		receive(t, w.Closed(), "close on context end")

		w2, err := b.conn.Wakeups(t.Context(), "p")
		require.NoError(t, err)
		require.NoError(t, w2.Close())
		require.NoError(t, w2.Close())
		receive(t, w2.Closed(), "close")

		w3, err := b.conn.Wakeups(t.Context(), "p")
		require.NoError(t, err)
		require.NoError(t, b.conn.Close())
		receive(t, w3.Closed(), "close with the connection")
		_, err = b.conn.Wakeups(t.Context(), "p")
		require.ErrorIs(t, err, events.ErrClosed)
	})

	t.Run("bad pool or event", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		_, err := b.conn.Wakeups(t.Context(), "a.b")
		require.ErrorIs(t, err, taskstate.ErrInvalidPool)
		_, err = b.conn.Wakeups(t.Context(), "p", "x.>")
		require.ErrorIs(t, err, events.ErrInvalidConfig)
	})
}
