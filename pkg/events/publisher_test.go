package events_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/events/eventstest"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

const (
	published = "taskfleet_events_published_total"
	failed    = "taskfleet_events_publish_failed_total"
)

func TestStream(t *testing.T) {
	t.Parallel()

	t.Run("exists with the documented config", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		s, err := b.js.Stream(ctxT(t), events.StreamName)
		require.NoError(t, err)
		cfg := s.CachedInfo().Config
		require.Equal(t, []string{"taskfleet.>"}, cfg.Subjects)
		require.Equal(t, jetstream.LimitsPolicy, cfg.Retention)
		require.Equal(t, time.Hour, cfg.MaxAge)
		require.Equal(t, 2*time.Minute, cfg.Duplicates)
		require.Equal(t, jetstream.FileStorage, cfg.Storage)
		require.Equal(t, b.conn.StreamConfig().Subjects, cfg.Subjects)
	})

	t.Run("memory storage is an option", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{MemoryStorage: true})
		s, err := b.js.Stream(ctxT(t), events.StreamName)
		require.NoError(t, err)
		require.Equal(t, jetstream.MemoryStorage, s.CachedInfo().Config.Storage)
		// A second client wanting file storage keeps the existing stream.
		setupOn(t, b.srv, events.Config{})
	})

	t.Run("a notification is stored with its Nats-Msg-Id and payload", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		before := time.Now().UnixNano()
		b.conn.Notifier().Notify(t.Context(), "pool-1", taskstate.EventCommitted, 7)
		eventually(t, func() bool { return value(t, b.reg, published, "pool-1", "committed") == 1 })

		s, err := b.js.Stream(ctxT(t), events.StreamName)
		require.NoError(t, err)
		msg, err := s.GetLastMsgForSubject(ctxT(t), "taskfleet.pool-1.committed")
		require.NoError(t, err)
		require.NotEmpty(t, msg.Header.Get(jetstream.MsgIDHeader))
		p, err := events.ParsePayload(msg.Data)
		require.NoError(t, err)
		require.Equal(t, 7, p.N)
		require.GreaterOrEqual(t, p.At, before)
		require.Equal(t, 0.0, value(t, b.reg, failed, "pool-1", "committed"))
	})

	t.Run("every notification gets its own msg id", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		for range 3 {
			b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 1)
		}
		eventually(t, func() bool { return value(t, b.reg, published, "p", "created") == 3 })
		s, err := b.js.Stream(ctxT(t), events.StreamName)
		require.NoError(t, err)
		info, err := s.Info(ctxT(t))
		require.NoError(t, err)
		require.Equal(t, uint64(3), info.State.Msgs)
	})

	t.Run("every created event is in the stream once Close returns", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		// A created event goes through the history goroutine (with its
		// wake-up in between), here from several goroutines at once;
		// Close waits for the acks.
		const callers, each = 8, 250
		const n = callers * each
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				for range each {
					b.conn.Notifier().Notify(t.Context(), "closing", taskstate.EventCreated, 1)
				}
			})
		}
		wg.Wait()
		require.NoError(t, b.conn.Close())
		require.Equal(t, float64(n), value(t, b.reg, published, "closing", "created"))
		s, err := b.js.Stream(ctxT(t), events.StreamName)
		require.NoError(t, err)
		info, err := s.Info(ctxT(t))
		require.NoError(t, err)
		require.Equal(t, uint64(n), info.State.Msgs)
	})

	t.Run("the same msg id twice is stored once", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		ctx := ctxT(t)
		subj := events.Subject("p", taskstate.EventCreated)
		a1, err := b.js.Publish(ctx, subj, []byte(`{"n":1,"at":1}`), jetstream.WithMsgID("task-1.attempt-1"))
		require.NoError(t, err)
		a2, err := b.js.Publish(ctx, subj, []byte(`{"n":1,"at":2}`), jetstream.WithMsgID("task-1.attempt-1"))
		require.NoError(t, err)
		require.False(t, a1.Duplicate)
		require.True(t, a2.Duplicate)
		require.Equal(t, a1.Sequence, a2.Sequence)
		s, err := b.js.Stream(ctx, events.StreamName)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		require.Equal(t, uint64(1), info.State.Msgs)
	})

	t.Run("a deleted stream is recreated by the next publishes", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		require.NoError(t, b.js.DeleteStream(ctxT(t), events.StreamName))
		// The first publishes find no stream, fail, and ask for the stream
		// to be ensured; later ones are stored.
		eventually(t, func() bool {
			b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventAvailable, 1)
			return value(t, b.reg, published, "p", "available") > 0
		}, "publishes never succeeded again")
		_, err := b.js.Stream(ctxT(t), events.StreamName)
		require.NoError(t, err)
	})
}

func TestNotifyNeverBlocks(t *testing.T) {
	t.Parallel()

	t.Run("with the server down it returns at once and counts failures", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		b.conn.Notifier().InitPool("p")
		b.srv.Shutdown()
		eventually(t, func() bool {
			v, _ := metric(t, b.reg, "taskfleet_events_connected", nil)
			return v == 0
		}, "the client never noticed the server left")

		const n = 1000
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range n {
				b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 1)
			}
		}()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatalf("%d notifications with the server down took over a second", n)
		}
		eventually(t, func() bool { return value(t, b.reg, failed, "p", "created") == n })
		require.NoError(t, testutil.GatherAndCompare(b.reg, strings.NewReader(`
# HELP taskfleet_events_publish_failed_total Task events that could not be published: not connected, no or negative ack, or the async publish window was full. Tasks are unaffected; workers and waiters fall back to polling.
# TYPE taskfleet_events_publish_failed_total counter
taskfleet_events_publish_failed_total{event="available",pool="p"} 0
taskfleet_events_publish_failed_total{event="committed",pool="p"} 0
taskfleet_events_publish_failed_total{event="created",pool="p"} 1000
taskfleet_events_publish_failed_total{event="failed",pool="p"} 0
`), failed))
		require.Equal(t, 0.0, value(t, b.reg, published, "p", "created"))
	})

	t.Run("a full publish window drops instead of blocking", func(t *testing.T) {
		t.Parallel()
		const window, n = 4, 200
		b := setup(t, events.Config{MaxPending: window})
		// No stream, but a core subscriber: the server answers no-one and
		// sends no "no responders", so acks never come and the window fills.
		nc, err := nats.Connect(b.srv.ClientURL())
		require.NoError(t, err)
		defer nc.Close()
		sub, err := nc.SubscribeSync("taskfleet.full.>")
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
		defer func() { _ = sub.Unsubscribe() }()
		require.NoError(t, b.js.DeleteStream(ctxT(t), events.StreamName))

		done := make(chan struct{})
		go func() {
			defer close(done)
			for range n {
				b.conn.Notifier().Notify(t.Context(), "full", taskstate.EventFailed, 1)
			}
		}()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatalf("%d notifications into a full window took over a second", n)
		}
		require.GreaterOrEqual(t, value(t, b.reg, failed, "full", "failed"), float64(n-window))
	})

	t.Run("bad pool names are counted, not published", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		b.conn.Notifier().Notify(t.Context(), "a.b", taskstate.EventCreated, 1)
		b.conn.Notifier().Notify(t.Context(), "p", "x>", 1)
		require.Equal(t, 1.0, value(t, b.reg, failed, "a.b", "created"))
		require.Equal(t, 1.0, value(t, b.reg, failed, "p", "x>"))
	})

	t.Run("after close it counts failures", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		require.NoError(t, b.conn.Close())
		b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 1)
		require.Equal(t, 1.0, value(t, b.reg, failed, "p", "created"))
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	b.conn.Notifier().InitPool("train")
	_, err := b.conn.Wakeups(t.Context(), "train")
	require.NoError(t, err)

	problems, err := testutil.GatherAndLint(b.reg)
	require.NoError(t, err)
	require.Empty(t, problems)

	const want = `
# HELP taskfleet_events_published_total Task events stored by the JetStream stream (acknowledged publishes).
# TYPE taskfleet_events_published_total counter
taskfleet_events_published_total{event="available",pool="train"} 0
taskfleet_events_published_total{event="committed",pool="train"} 0
taskfleet_events_published_total{event="created",pool="train"} 0
taskfleet_events_published_total{event="failed",pool="train"} 0
# HELP taskfleet_events_connected 1 while the connection to the NATS server is up, else 0.
# TYPE taskfleet_events_connected gauge
taskfleet_events_connected 1
# HELP taskfleet_events_reconnects_total Reconnections to the NATS server after a lost connection.
# TYPE taskfleet_events_reconnects_total counter
taskfleet_events_reconnects_total 0
`
	require.NoError(t, testutil.GatherAndCompare(b.reg, strings.NewReader(want),
		published, "taskfleet_events_connected", "taskfleet_events_reconnects_total"))
	for _, name := range []string{failed, received} {
		n, err := testutil.GatherAndCount(b.reg, name)
		require.NoError(t, err)
		require.Equal(t, 4, n, name)
	}

	// Two connections may share one registry.
	eventstest.Connect(t, b.srv, events.Config{Registerer: b.reg})

	t.Run("a failed Connect registers nothing", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewPedanticRegistry()
		_, err := events.Connect(ctxT(t), events.Config{URL: plainServer(t).ClientURL(), Registerer: reg})
		require.ErrorIs(t, err, events.ErrJetStream)
		n, err := testutil.GatherAndCount(reg)
		require.NoError(t, err)
		require.Zero(t, n)
		eventstest.Connect(t, b.srv, events.Config{Registerer: reg})
		v, _ := metric(t, reg, "taskfleet_events_connected", nil)
		require.Equal(t, 1.0, v)
	})
}

func TestPayload(t *testing.T) {
	t.Parallel()
	_, err := events.ParsePayload([]byte("nope"))
	require.Error(t, err)
	require.Equal(t, "taskfleet.p.created", events.Subject("p", taskstate.EventCreated))
}
