package events_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/events/eventstest"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// workers starts n readers of n WorkWakeups of pool for kinds and returns
// the count of wake-ups they took together.
func workers(t *testing.T, conn *events.Conn, pool string, n int, kinds ...string) *atomic.Int64 {
	t.Helper()
	var took atomic.Int64
	for range n {
		w, err := conn.WorkWakeups(t.Context(), pool, kinds...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = w.Close() })
		go func() {
			for {
				select {
				case <-w.C():
					took.Add(1)
				case <-t.Context().Done():
					return
				}
			}
		}()
	}
	return &took
}

// drained waits until the work queues of pool have no wake-up left,
// pending or unacknowledged: a work-queue stream removes a wake-up when it
// is acknowledged.
func drained(t *testing.T, js jetstream.JetStream, pool string) {
	t.Helper()
	eventually(t, func() bool {
		s, err := js.Stream(t.Context(), events.WorkStreamName)
		if err != nil {
			return false
		}
		info, err := s.Info(t.Context(), jetstream.WithSubjectFilter(events.WorkSubjectPrefix+"."+pool+".>"))
		return err == nil && len(info.State.Subjects) == 0
	}, "the work queue drained")
}

func TestWorkWakeups(t *testing.T) {
	t.Parallel()

	t.Run("each created event wakes one of several workers", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		took := workers(t, b.conn, "p", 4)
		const k = 10
		for i := range k {
			b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 1)
			eventually(t, func() bool { return took.Load() >= int64(i+1) }, "wake-up %d", i)
		}
		drained(t, b.js, "p")
		// Every worker waking on every event would make 4k.
		require.Equal(t, int64(k), took.Load())
		require.Equal(t, float64(k), value(t, b.reg, received, "p", "work"))
	})

	t.Run("a batch of n tasks wakes up to n workers, at most WorkFanout", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{WorkFanout: 5})
		took := workers(t, b.conn, "p", 8)
		b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 3)
		eventually(t, func() bool { return took.Load() >= 3 })
		drained(t, b.js, "p")
		require.Equal(t, int64(3), took.Load())
		b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventAvailable, 100)
		eventually(t, func() bool { return took.Load() >= 8 })
		drained(t, b.js, "p")
		require.Equal(t, int64(8), took.Load())
	})

	t.Run("committed and failed events and other pools wake no worker", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		took := workers(t, b.conn, "p", 2)
		pub := b.conn.Notifier()
		pub.Notify(t.Context(), "p", taskstate.EventCommitted, 1)
		pub.Notify(t.Context(), "p", taskstate.EventFailed, 1)
		pub.Notify(t.Context(), "q", taskstate.EventCreated, 1)
		pub.Notify(t.Context(), "p", taskstate.EventCreated, 1) // last: once taken, the others were published
		eventually(t, func() bool { return took.Load() >= 1 })
		drained(t, b.js, "p")
		require.Equal(t, int64(1), took.Load())
	})

	t.Run("a wake-up goes to a worker of its tasks' kind", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		trainers := workers(t, b.conn, "p", 3, "train")
		predictors := workers(t, b.conn, "p", 2, "predict", "odd kind/with.dots")
		pub := b.conn.Notifier()
		pub.NotifyChange(t.Context(), "p", taskstate.Change{Event: taskstate.EventCreated, N: 3, Kinds: map[string]int{"predict": 2, "odd kind/with.dots": 1}})
		eventually(t, func() bool { return predictors.Load() >= 3 }, "the predictors took their wake-ups")
		drained(t, b.js, "p")
		require.Zero(t, trainers.Load(), "no trainer is woken for predict tasks")

		pub.NotifyChange(t.Context(), "p", taskstate.Change{Event: taskstate.EventAvailable, N: 1, Kinds: map[string]int{"train": 1}})
		eventually(t, func() bool { return trainers.Load() >= 1 }, "a trainer took the train wake-up")
		// Kinds not known (a bulk retry): one worker of any kind.
		pub.NotifyChange(t.Context(), "p", taskstate.Change{Event: taskstate.EventAvailable, N: 1})
		eventually(t, func() bool { return trainers.Load()+predictors.Load() >= 5 }, "someone took the any-kind wake-up")
		// Kinds counted in part (a bulk retry past the Manager's count):
		// the counted kind's workers, and the rest under "" any kind.
		pub.NotifyChange(t.Context(), "p", taskstate.Change{Event: taskstate.EventAvailable, N: 2, Kinds: map[string]int{"train": 1, "": 1}})
		eventually(t, func() bool { return trainers.Load()+predictors.Load() >= 7 && trainers.Load() >= 2 }, "a trainer and someone took the two wake-ups")
		// Tasks back after a backoff wake nobody now.
		pub.NotifyChange(t.Context(), "p", taskstate.Change{Event: taskstate.EventAvailable, N: 1, Kinds: map[string]int{"train": 1}, Delayed: true})
		pub.NotifyChange(t.Context(), "p", taskstate.Change{Event: taskstate.EventCreated, N: 1, Kinds: map[string]int{"predict": 1}}) // last
		eventually(t, func() bool { return trainers.Load()+predictors.Load() >= 8 }, "the last wake-up was taken")
		drained(t, b.js, "p")
		require.Equal(t, int64(8), trainers.Load()+predictors.Load(), "the delayed train task woke nobody")
	})

	t.Run("an idle worker takes a wake-up on the fast path, without the stream", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		took := workers(t, b.conn, "p", 2, "k")
		// One at a time: a wake-up that an overloaded machine keeps from
		// its reader for 2 ms goes to the work queue, rightly; not all of
		// them.
		const n = 20
		for i := range n {
			b.conn.Notifier().NotifyChange(t.Context(), "p", taskstate.Change{Event: taskstate.EventCreated, N: 1, Kinds: map[string]int{"k": 1}})
			eventually(t, func() bool { return took.Load() >= int64(i+1) })
		}
		s, err := b.js.Stream(t.Context(), events.WorkStreamName)
		require.NoError(t, err)
		info, err := s.Info(t.Context())
		require.NoError(t, err)
		require.Less(t, info.State.LastSeq, uint64(n), "the work queue stored every wake-up: the fast path handed none over")
		require.Equal(t, int64(n), took.Load())
	})

	t.Run("with no worker listening a wake-up waits in the work queue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		b.conn.Notifier().NotifyChange(t.Context(), "p", taskstate.Change{Event: taskstate.EventCreated, N: 1, Kinds: map[string]int{"k": 1}})
		eventually(t, func() bool {
			s, err := b.js.Stream(t.Context(), events.WorkStreamName)
			if err != nil {
				return false
			}
			info, err := s.Info(t.Context())
			return err == nil && info.State.Msgs == 1
		}, "the server answered no responders and the publisher queued the wake-up")
		took := workers(t, b.conn, "p", 1, "k")
		eventually(t, func() bool { return took.Load() == 1 }, "a worker that starts later takes it")
		drained(t, b.js, "p")
	})

	t.Run("Live while the queues answer", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		w, err := b.conn.WorkWakeups(t.Context(), "p", "train")
		require.NoError(t, err)
		eventually(t, w.Live, "live once its queues answered")
		require.NoError(t, w.Close())
	})

	t.Run("a wake-up a busy worker does not take goes to another", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		busy, err := b.conn.WorkWakeups(t.Context(), "p") // never read: a worker without a free slot
		require.NoError(t, err)
		t.Cleanup(func() { _ = busy.Close() })
		took := workers(t, b.conn, "p", 1)
		for range 5 {
			b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 1)
		}
		eventually(t, func() bool { return took.Load() >= 5 }, "the idle worker took every wake-up")
	})
}

func TestStreamLimits(t *testing.T) {
	t.Parallel()

	t.Run("defaults on both streams", func(t *testing.T) {
		t.Parallel()
		b := setup(t, events.Config{})
		for _, name := range []string{events.StreamName, events.WorkStreamName} {
			s, err := b.js.Stream(t.Context(), name)
			require.NoError(t, err)
			cfg := s.CachedInfo().Config
			require.Equal(t, events.DefaultStreamMaxBytes, cfg.MaxBytes, name)
			require.Equal(t, events.DefaultStreamMaxMsgs, cfg.MaxMsgs, name)
			require.Equal(t, events.DefaultStreamMaxMsgSize, cfg.MaxMsgSize, name)
		}
	})

	t.Run("an unbounded stream is updated to the limits on connect", func(t *testing.T) {
		t.Parallel()
		srv := eventstest.Server(t, events.EmbeddedConfig{})
		js := newJS(t, srv.ClientURL())
		_, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: events.StreamName, Subjects: []string{events.SubjectPrefix + ".>"}, MaxBytes: -1, MaxMsgs: -1})
		require.NoError(t, err)
		b := setupOn(t, srv, events.Config{StreamMaxBytes: 1 << 20, StreamMaxMsgs: 500, StreamMaxMsgSize: 512})
		s, err := b.js.Stream(t.Context(), events.StreamName)
		require.NoError(t, err)
		cfg := s.CachedInfo().Config
		require.Equal(t, int64(1<<20), cfg.MaxBytes)
		require.Equal(t, int64(500), cfg.MaxMsgs)
		require.Equal(t, int32(512), cfg.MaxMsgSize)

		// A message over the size limit is refused; many small ones keep
		// the newest MaxMsgs.
		_, err = b.js.Publish(t.Context(), events.Subject("p", taskstate.EventCreated), make([]byte, 1024))
		require.Error(t, err)
		for range 600 {
			b.conn.Notifier().Notify(t.Context(), "p", taskstate.EventCommitted, 1)
		}
		eventually(t, func() bool {
			return value(t, b.reg, "taskfleet_events_published_total", "p", "committed") == 600
		})
		info, err := s.Info(t.Context())
		require.NoError(t, err)
		require.Equal(t, uint64(500), info.State.Msgs)
	})

	t.Run("bad limits are refused", func(t *testing.T) {
		t.Parallel()
		for _, cfg := range []events.Config{
			{URL: "nats://127.0.0.1:1", StreamMaxBytes: -1},
			{URL: "nats://127.0.0.1:1", StreamMaxBytes: 1024, StreamMaxMsgSize: 2048},
		} {
			_, err := events.Connect(context.Background(), cfg)
			require.ErrorIs(t, err, events.ErrInvalidConfig)
		}
		require.ErrorIs(t, events.ValidateStreamLimits(0, 0, 1<<40), events.ErrInvalidConfig)
		require.NoError(t, events.ValidateStreamLimits(0, 0, 0))
	})
}

// TestWakeFloodIsBounded: junk published on a kind's fast-path subject
// while its worker is busy (it never takes a wake-up here) waits in the
// client at most WakePendingMsgs / WakePendingBytes per subscription;
// the rest is dropped, and a worker that asks again gets a wake-up.
func TestWakeFloodIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	w, err := b.conn.WorkWakeups(t.Context(), "p", "train")
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	nc, err := nats.Connect(b.srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)

	junk := make([]byte, 512)
	const sent = 20_000
	for i := range sent {
		require.NoError(t, nc.Publish(events.WakeSubjectPrefix+".p.train", junk))
		if i%1000 == 999 {
			require.NoError(t, nc.Flush())
		}
	}
	var fast *nats.Subscription
	for _, s := range w.FastPath() {
		if s.Subject == events.WakeSubjectPrefix+".p.train" {
			fast = s
		}
	}
	require.NotNil(t, fast)
	msgs, bytes, err := fast.PendingLimits()
	require.NoError(t, err)
	require.Equal(t, events.WakePendingMsgs, msgs)
	require.Equal(t, events.WakePendingBytes, bytes)
	eventually(t, func() bool {
		dropped, err := fast.Dropped()
		return err == nil && dropped > 0
	}, "the client drops the flood past the bound")
	for range 50 {
		m, by, err := fast.Pending()
		require.NoError(t, err)
		require.LessOrEqual(t, m, events.WakePendingMsgs)
		require.LessOrEqual(t, by, events.WakePendingBytes)
	}
	receive(t, w.C(), "a wake-up once the worker asks")
}

func TestDeleteWorkConsumers(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	consumers := func() []string {
		s, err := b.js.Stream(t.Context(), events.WorkStreamName)
		require.NoError(t, err)
		var names []string
		l := s.ConsumerNames(t.Context())
		for n := range l.Name() {
			names = append(names, n)
		}
		require.NoError(t, l.Err())
		slices.Sort(names)
		return names
	}
	// Pools whose consumer names share a prefix with "a"'s.
	for _, w := range []struct {
		pool  string
		kinds []string
	}{{"a", []string{"x", "y"}}, {"a-x", nil}, {"ab", []string{"x"}}} {
		ww, err := b.conn.WorkWakeups(t.Context(), w.pool, w.kinds...)
		require.NoError(t, err)
		eventually(t, func() bool { return ww.Live() }, "pool %s pulls", w.pool)
		require.NoError(t, ww.Close())
	}
	require.Len(t, consumers(), 6)
	n, err := b.conn.DeleteWorkConsumers(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, []string{"work-2-ab-_", "work-2-ab-x", "work-3-a-x-_"}, consumers())
	n, err = b.conn.DeleteWorkConsumers(t.Context(), "a")
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = b.conn.DeleteWorkConsumers(t.Context(), "bad pool")
	require.Error(t, err)
}
