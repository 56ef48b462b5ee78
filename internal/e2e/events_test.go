//go:build unix

package e2e_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// event is a line of `dispatcher events -o json`.
type event struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Pool  string    `json:"pool"`
	Event string    `json:"event"`
	N     int       `json:"n"`
	IDs   []string  `json:"ids"`
}

func parseEvents(t *testing.T, out string) []event {
	t.Helper()
	var evs []event
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var ev event
		require.NoError(t, json.Unmarshal([]byte(line), &ev), "line %q", line)
		evs = append(evs, ev)
	}
	return evs
}

// idsOf returns the ids the events of kind name, in order.
func idsOf(evs []event, kind string) []string {
	var ids []string
	for _, ev := range evs {
		if ev.Event == kind {
			ids = append(ids, ev.IDs...)
		}
	}
	return ids
}

// TestEventsHistory runs tasks through a worker with `dispatcher dev`
// carrying events, stops the worker, and reads the run back with
// `dispatcher events --since`: the created, committed and failed events
// with the tasks' ids. Then `events -f` follows a second run as it happens.
func TestEventsHistory(t *testing.T) {
	c := newCluster(t)
	d := c.startDev(fleettest.FreeAddr(t))
	w := c.startWorker("events-a", "--nats", d.url)
	specs := append(sleepTasks(3, "5ms", "history"),
		spec{Kind: "sleep", Def: map[string]any{"duration": "1ms", "fail_attempts": 1, "batch": "history"}, MaxAttempts: 1})
	ids := c.create(specs, "--nats", d.url)
	fleettest.Eventually(t, time.Minute, func() error {
		if s := c.stat(); s["done"] != 3 || s["failed"] != 1 {
			return fmt.Errorf("counts %v", s)
		}
		return nil
	})
	require.Equal(t, 0, w.Stop(t), "the worker stops cleanly")

	// The workers are gone: the history is still there.
	evs := parseEvents(t, c.mustDispatcher("events", "--nats", d.url, "--since", "10m", "-o", "json"))
	require.NotEmpty(t, evs)
	require.Equal(t, "created", evs[0].Event)
	require.Equal(t, ids, evs[0].IDs, "the created event names every new task")
	require.Equal(t, 4, evs[0].N)
	committed := idsOf(evs, "committed")
	slices.Sort(committed)
	want := slices.Clone(ids[:3])
	slices.Sort(want)
	require.Equal(t, want, committed, "one committed id per done task")
	require.Equal(t, []string{ids[3]}, idsOf(evs, "failed"))
	for i, ev := range evs {
		require.Equal(t, c.pool, ev.Pool)
		require.WithinDuration(t, time.Now(), ev.Time, 10*time.Minute)
		if i > 0 {
			require.Greater(t, ev.Seq, evs[i-1].Seq, "stream order")
		}
	}

	// The table form: time, event, count, ids.
	plain := c.mustDispatcher("events", "--nats", d.url)
	require.Contains(t, plain, "created")
	require.Contains(t, plain, ids[3])
	require.Len(t, strings.Split(strings.TrimSpace(plain), "\n"), len(evs))

	// A start after the run shows nothing, and exits.
	require.Empty(t, strings.TrimSpace(c.mustDispatcher("events", "--nats", d.url, "--since", "1ms")))

	// -f prints the history, then follows a live run.
	f := c.start("events -f", c.bin.Dispatcher, c.env(), "events", "--nats", d.url, "-f", "-o", "json")
	f.WaitOutput(t, fleettest.StartTimeout, fleettest.Stdout, ids[3])
	c.startWorker("events-b", "--nats", d.url)
	live := c.create(sleepTasks(1, "1ms", "live"), "--nats", d.url)[0]
	fleettest.Eventually(t, time.Minute, func() error {
		evs := parseEvents(t, lines(f.Stdout()))
		if !slices.Contains(idsOf(evs, "created"), live) || !slices.Contains(idsOf(evs, "committed"), live) {
			return fmt.Errorf("no created and committed event of %s yet:\n%s", live, f.Stdout())
		}
		return nil
	})
	f.Signal(t, syscall.SIGINT)
	require.Equal(t, 0, f.WaitExit(t, fleettest.ExitTimeout), "an interrupted follow exits 0\n%s", f.Dump())
}

// lines returns the complete lines of out (a follower may be mid-line).
func lines(out string) string {
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		return out[:i+1]
	}
	return ""
}

// TestEventsUsage: events needs NATS and sane flags, or exits 2 naming
// the flag.
func TestEventsUsage(t *testing.T) {
	c := newCluster(t)
	for args, want := range map[string]string{
		"events": "--nats",
		"events --nats nats://127.0.0.1:1 --since -5m": "--since",
		"events --nats nats://127.0.0.1:1 extra":       "unexpected argument",
	} {
		r := c.dispatcher(strings.Fields(args)...)
		require.Equal(t, 2, r.Code, "%s: %s", args, r)
		require.Contains(t, r.Stderr, want, args)
	}
}
