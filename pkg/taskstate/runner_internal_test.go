package taskstate

import (
	"context"
	"testing"
	"time"
)

// A runner claims nothing while the leases it holds have gone unrenewed
// for half a lease; with no lease held it always may.
func TestRunnerLeasesStale(t *testing.T) {
	r, err := NewRunner(RunnerConfig{Manager: &Manager{}, Lease: time.Minute,
		Handlers: map[string]HandlerFunc{"noop": func(_ context.Context, _ *Task, p any) (any, error) { return p, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	r.renewed.Store(time.Now().Add(-time.Hour).UnixNano())
	if r.leasesStale() {
		t.Fatal("stale with no lease held")
	}
	r.inflight["t1"] = &running{task: &Task{ID: "t1"}, cancel: func(error) {}}
	if !r.leasesStale() {
		t.Fatal("not stale an hour after the last renewal of a held lease")
	}
	r.renewed.Store(time.Now().Add(-20 * time.Second).UnixNano())
	if r.leasesStale() {
		t.Fatal("stale 20 s into a one-minute lease")
	}
	r.renewed.Store(time.Now().Add(-40 * time.Second).UnixNano())
	if !r.leasesStale() {
		t.Fatal("not stale 40 s into a one-minute lease (past half)")
	}
}
