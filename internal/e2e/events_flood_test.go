//go:build unix

package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/events/eventstest"
)

// storeWrites are the store operations of a worker that write.
var storeWrites = []string{"claim", "commit", "commit_claim", "return", "release", "fail", "heartbeat", "reap"}

// opCount sums the calls of store operation op (both results) in m.
func opCount(m fleettest.Metrics, op string) float64 {
	v, _ := m.Sum("taskfleet_store_operation_duration_seconds_count", "op", op)
	return v
}

func writes(m fleettest.Metrics) float64 {
	var n float64
	for _, op := range storeWrites {
		n += opCount(m, op)
	}
	return n
}

// TestCreatedEventWakesOneWorker: with four idle workers (no polling to
// speak of), each task created on its own costs one claim in the whole
// fleet, not one per worker: the work queue hands each wake-up to one
// worker.
func TestCreatedEventWakesOneWorker(t *testing.T) {
	c := newCluster(t)
	srv := eventstest.Server(t, events.EmbeddedConfig{})
	url := srv.ClientURL()
	var ws []*worker
	for i := range 4 {
		ws = append(ws, c.startWorker(fmt.Sprintf("w%d", i), "--nats", url, "--concurrency", "2",
			"--poll-interval", "1h", "--reap-interval", "0"))
	}
	claims := func() (sum float64) {
		for _, w := range ws {
			sum += opCount(w.scrape(t), "claim")
		}
		return sum
	}
	committed := func() (sum float64) {
		for _, w := range ws {
			sum += w.metric(t, "taskfleet_tasks_committed_total")
		}
		return sum
	}
	// Each worker's first claim, at start.
	fleettest.Eventually(t, 10*time.Second, func() error { return atLeast("claims", claims(), 4) })
	base := claims()
	const k = 5
	for i := range k {
		c.create([]spec{{Kind: "noop", Def: map[string]any{"one": i}}}, "--nats", url)
		fleettest.Eventually(t, 10*time.Second, func() error { return atLeast("tasks committed", committed(), float64(i+1)) })
	}
	got := claims() - base
	t.Logf("%d tasks created one at a time on 4 idle workers: %.0f claims", k, got)
	// One wake-up per task reaches one worker: k claims (every worker
	// waking would make 4k). One spare claim is allowed for a worker
	// that re-joined the queue after a failed first pull.
	require.GreaterOrEqual(t, got, float64(k), "claims")
	require.LessOrEqual(t, got, float64(k+1), "claims for %d tasks created one at a time on 4 idle workers: each wake-up should reach one worker", k)
}

// TestEventFloodIsBounded floods a pool's subjects (the history, the
// work queue and its core fast path, which the worker passes on to the
// work queue when it does not take a wake-up) with 100,000 junk messages
// while one worker idles: both
// streams stay within their limits, the worker's store writes stay
// bounded, and a real task created during the flood is done within about
// a poll interval.
func TestEventFloodIsBounded(t *testing.T) {
	c := newCluster(t)
	srv := eventstest.Server(t, events.EmbeddedConfig{})
	url := srv.ClientURL()
	const maxBytes, maxMsgs = 2 << 20, 20_000
	// Every process applies the limits it is given to the streams: give
	// them all the same.
	nats := []string{"--nats", url, "--nats-max-bytes", fmt.Sprint(maxBytes), "--nats-max-msgs", fmt.Sprint(maxMsgs), "--nats-max-msg-size", "1024"}
	w := c.startWorker("idle", append(nats, "--kinds", "noop", "--poll-interval", "1s", "--reap-interval", "0")...)
	fleettest.Eventually(t, 10*time.Second, func() error { return atLeast("claims", opCount(w.scrape(t), "claim"), 1) })

	nc, err := natsgo.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	junk := []byte(strings.Repeat("x", 64))
	big := make([]byte, 8<<10) // over MaxMsgSize: refused by the streams
	subjects := []string{events.WorkSubject(c.pool, "noop"), events.WorkSubject(c.pool, ""), "taskfleet." + c.pool + ".created", "taskfleet." + c.pool + ".available",
		events.WakeSubjectPrefix + "." + c.pool + ".noop", events.WakeSubjectPrefix + "." + c.pool + "._"}

	before := w.scrape(t)
	start := time.Now()
	created := make(chan struct{})
	done := make(chan struct{})
	flood := make(chan int, 1)
	go func() {
		sent := 0
		defer func() { flood <- sent }()
		for sent < 100_000 || !isClosed(done) {
			for range 1000 {
				data := junk
				if sent%997 == 0 {
					data = big
				}
				if nc.Publish(subjects[sent%len(subjects)], data) != nil {
					return
				}
				sent++
			}
			if nc.Flush() != nil { // one round trip per thousand: the server keeps up
				return
			}
			if sent == 30_000 {
				close(created)
			}
		}
	}()
	<-created
	c.create([]spec{{Kind: "noop", Def: map[string]any{"real": true}}}, nats...)
	t0 := time.Now()
	// Within the poll interval (1 s, jittered to 1.2 s), with room for a
	// loaded machine.
	fleettest.Eventually(t, 3*time.Second, func() error {
		return atLeast("the real task committed during the flood", w.metric(t, "taskfleet_tasks_committed_total"), 1)
	})
	pickedUp := time.Since(t0)
	close(done)
	sent := <-flood
	elapsed := time.Since(start)
	require.GreaterOrEqual(t, sent, 100_000, "junk messages sent")
	t.Logf("flood: %d junk messages in %s; real task done %s after create", sent, elapsed.Round(time.Millisecond), pickedUp.Round(time.Millisecond))

	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{events.StreamName, events.WorkStreamName} {
		s, err := js.Stream(ctx, name)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		require.LessOrEqual(t, info.State.Bytes, uint64(maxBytes), "%s bytes", name)
		require.LessOrEqual(t, info.State.Msgs, uint64(maxMsgs), "%s messages", name)
		require.Equal(t, int64(maxBytes), info.Config.MaxBytes, "%s MaxBytes", name)
		t.Logf("%s: %d messages, %d bytes", name, info.State.Msgs, info.State.Bytes)
	}

	after := w.scrape(t)
	got := writes(after) - writes(before)
	// Wake-ups that find nothing back off from 1 ms doubling up to poll/2
	// (500 ms): eleven claims in the first half second, then two a
	// second; the real task resets the back-off once (eleven more); plus
	// the poll (at most 1.25 a second), plus the real task's claim and
	// commit. Without the back-off: hundreds a second.
	secs := elapsed.Seconds()
	bound := 2*11 + 2*secs + 1.25*secs + 4
	t.Logf("idle worker: %.0f store writes (%.0f claims) during the flood (bound %.0f)", got, opCount(after, "claim")-opCount(before, "claim"), bound)
	require.LessOrEqual(t, got, bound, "store writes of an idle worker during a flood of %d junk events in %s", sent, elapsed)
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func atLeast(what string, got, want float64) error {
	if got < want {
		return fmt.Errorf("%s: %v, want at least %v", what, got, want)
	}
	return nil
}
