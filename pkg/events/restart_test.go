package events_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/events/eventstest"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func TestServerRestart(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		name      string
		sameStore bool
	}{
		{name: "same port and store dir", sameStore: true},
		// A fresh server has no stream: the Conn must create it again.
		{name: "same port, empty store dir", sameStore: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			first := eventstest.Server(t, events.EmbeddedConfig{StoreDir: dir})
			port := first.Port()
			// A publisher and a subscriber, as a dispatcher and a worker.
			b := setupOn(t, first, events.Config{Debounce: -1})
			sub := eventstest.Connect(t, first, events.Config{Debounce: -1, Registerer: b.reg})
			w, err := sub.Wakeups(ctxT(t), "p", taskstate.EventCreated)
			require.NoError(t, err)

			b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 1)
			receive(t, w.C(), "wake-up before the restart")
			eventually(t, func() bool { return value(t, b.reg, published, "p", "created") == 1 })

			first.Shutdown()
			eventually(t, func() bool {
				v, _ := metric(t, b.reg, "taskfleet_events_connected", nil)
				return v == 0
			}, "the clients never noticed the server left")

			store := t.TempDir()
			if tc.sameStore {
				store = dir
			}
			second := eventstest.Server(t, events.EmbeddedConfig{Port: port, StoreDir: store})
			require.Equal(t, first.ClientURL(), second.ClientURL())

			receive(t, w.Reconnected(), "reconnect signal")
			receive(t, w.C(), "wake-up on reconnect") // events may have been missed
			eventually(t, func() bool {
				v, _ := metric(t, b.reg, "taskfleet_events_reconnects_total", nil)
				return v == 2
			})

			// The stream is back (recovered or re-ensured) and takes events.
			js := newJS(t, second.ClientURL())
			eventually(t, func() bool {
				_, err := js.Stream(t.Context(), events.StreamName)
				return err == nil
			}, "stream not re-ensured after the restart")

			before := value(t, b.reg, received, "p", "created")
			b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 1)
			receive(t, w.C(), "wake-up after the restart")
			require.Equal(t, before+1, value(t, b.reg, received, "p", "created"))
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				assert.Equal(c, 2.0, value(t, b.reg, published, "p", "created"), "published")
				assert.Equal(c, 0.0, value(t, b.reg, failed, "p", "created"), "failed")
			}, waitFor, 2*time.Millisecond)
		})
	}
}
