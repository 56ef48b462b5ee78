package events_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/events/eventstest"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// benchConn connects to srv over TCP or through the in-process pipe.
func benchConn(b *testing.B, srv *events.Embedded, inProcess bool, cfg events.Config) *events.Conn {
	b.Helper()
	if !inProcess {
		return eventstest.Connect(b, srv, cfg)
	}
	conn, err := events.ConnectInProcess(context.Background(), srv, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}

// BenchmarkNotify measures the caller's cost of Notify in a tight loop.
// The loop publishes far faster than the server stores, so the publish
// window fills and most events are dropped (reported as dropped/op): that
// is the designed behaviour under a storm, and stored/s is what the server
// kept up with meanwhile. With a window of 1M nothing is dropped and the
// loop runs at the pace the server stores and acks.
//
//	go test -run '^$' -bench 'BenchmarkNotify$' ./pkg/events/
func BenchmarkNotify(b *testing.B) {
	for _, tc := range []struct {
		name       string
		inProcess  bool
		maxPending int
	}{
		{"tcp/window=4096", false, 0},
		{"inprocess/window=4096", true, 0},
		{"tcp/window=1M", false, 1 << 20},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := eventstest.Server(b, events.EmbeddedConfig{})
			reg := prometheus.NewRegistry()
			conn := benchConn(b, srv, tc.inProcess, events.Config{Registerer: reg, MaxPending: tc.maxPending})
			pub := conn.Notifier()
			pub.InitPool("bench")
			ctx := context.Background()
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				pub.Notify(ctx, "bench", taskstate.EventCreated, 1)
			}
			// Wait for the acks, to report what reached the stream.
			deadline := time.Now().Add(30 * time.Second)
			var ok, bad float64
			for time.Now().Before(deadline) {
				ok = gathered(b, reg, "taskfleet_events_published_total")
				bad = gathered(b, reg, "taskfleet_events_publish_failed_total")
				if int(ok+bad) >= b.N {
					break
				}
				time.Sleep(time.Millisecond) // polling a benchmark's tail, not a test
			}
			b.ReportMetric(bad/float64(b.N), "dropped/op")
			b.ReportMetric(ok/time.Since(start).Seconds(), "stored/s")
		})
	}
}

// BenchmarkNotifyToWakeup measures the latency from Notify on one
// connection to the wake-up on another (a dispatcher and a worker), one
// event at a time.
//
//	go test -run '^$' -bench BenchmarkNotifyToWakeup ./pkg/events/
//
// "debounce=off" signals on every event. "debounce=2ms/back-to-back" sends
// the next event as soon as the last wake-up arrived, so every event after
// the first falls into the throttle interval and waits for its trailing
// signal: the cost of debouncing under a continuous stream. The "idle"
// cases pause 5 ms (longer than the interval) before each event, as on an
// idle fleet: the leading edge signals at once, so debounce=2ms matches
// debounce=off, and both pay the machine's wake-from-idle cost.
func BenchmarkNotifyToWakeup(b *testing.B) {
	const idlePause = 5 * time.Millisecond
	for _, tc := range []struct {
		name      string
		inProcess bool
		debounce  time.Duration
		idle      bool
		work      bool // the work queue of a kind (WorkWakeups), not the event subscription
	}{
		{"tcp/debounce=off", false, -1, false, false},
		{"tcp/debounce=2ms/back-to-back", false, 2 * time.Millisecond, false, false},
		{"tcp/debounce=2ms/idle", false, 2 * time.Millisecond, true, false},
		{"tcp/debounce=off/idle", false, -1, true, false},
		{"inprocess/debounce=off", true, -1, false, false},
		{"tcp/work/idle", false, -1, true, true},
		{"inprocess/work/idle", true, -1, true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := eventstest.Server(b, events.EmbeddedConfig{})
			pub := benchConn(b, srv, tc.inProcess, events.Config{}).Notifier()
			sub := benchConn(b, srv, tc.inProcess, events.Config{Debounce: tc.debounce})
			var wake <-chan struct{}
			if tc.work {
				w, err := sub.WorkWakeups(context.Background(), "bench", "k")
				if err != nil {
					b.Fatal(err)
				}
				wake = w.C()
			} else {
				w, err := sub.Wakeups(context.Background(), "bench", taskstate.EventCreated)
				if err != nil {
					b.Fatal(err)
				}
				wake = w.C()
			}
			change := taskstate.Change{Event: taskstate.EventCreated, N: 1, Kinds: map[string]int{"k": 1}}
			ctx := context.Background()
			lat := make([]time.Duration, 0, 1024)
			timeout := time.NewTimer(time.Hour)
			defer timeout.Stop()
			for b.Loop() {
				if tc.idle {
					b.StopTimer()
					time.Sleep(idlePause) // the scenario: a pause longer than the interval
					b.StartTimer()
				}
				start := time.Now()
				pub.NotifyChange(ctx, "bench", change)
				timeout.Reset(10 * time.Second)
				select {
				case <-wake:
				case <-timeout.C:
					b.Fatal("no wake-up within 10s")
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			q := func(p float64) float64 {
				return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Microsecond)
			}
			b.ReportMetric(q(0.50), "p50-µs")
			b.ReportMetric(q(0.99), "p99-µs")
		})
	}
}

// gathered sums every series of the metric name in reg.
func gathered(b *testing.B, reg prometheus.Gatherer, name string) float64 {
	b.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
