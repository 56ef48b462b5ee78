package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// storeOps are the operation names taskstate.Manager passes to
// Config.Observe. Each is initialised to zero for both results.
var storeOps = []string{
	"create", "claim", "commit", "commit_claim", "return", "release", "fail", "heartbeat",
	"list_expired", "reap", "stat", "get", "remove", "reset_status",
	"retry_failed", "prioritize",
}

const (
	resultOK    = "ok"
	resultError = "error"
)

// storeBuckets run from 100 µs (an embedded SQLite call) to 10 s (a store
// in trouble).
var storeBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Store records the latency of task-store operations in
// taskfleet_store_operation_duration_seconds{op,result}. Its Observe method
// fits taskstate.Config.Observe. It is safe for concurrent use.
type Store struct {
	vec   *prometheus.HistogramVec
	known map[string][2]prometheus.Observer // op → [ok, error]
}

// NewStore registers the store-latency histogram on reg and initialises
// every known operation, with both results, to zero. A nil reg registers
// nothing. Several Stores (or Workers) may share reg: they share the
// histogram.
func NewStore(reg prometheus.Registerer) (*Store, error) {
	r := &registrar{reg: reg}
	s, err := newStore(r)
	if err != nil {
		r.rollback()
		return nil, err
	}
	return s, nil
}

func newStore(r *registrar) (*Store, error) {
	vec, err := register(r, nameStoreOp, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    nameStoreOp,
		Help:    "Duration of task-store operations by operation (create, claim, commit, heartbeat, ...) and result (ok, error).",
		Buckets: storeBuckets,
	}, []string{"op", "result"}))
	if err != nil {
		return nil, err
	}
	s := &Store{vec: vec, known: make(map[string][2]prometheus.Observer, len(storeOps))}
	for _, op := range storeOps {
		s.known[op] = [2]prometheus.Observer{
			vec.WithLabelValues(op, resultOK),
			vec.WithLabelValues(op, resultError),
		}
	}
	return s, nil
}

// Observe records one store call: its operation name, duration and error.
// The result is "error" when the backend failed or timed out; a call that
// found no such task (taskstate.ErrNotFound) got an answer and counts as
// "ok". A call abandoned because its caller's context was cancelled (a
// worker shutting down) says nothing about the store and is not recorded.
func (s *Store) Observe(op string, d time.Duration, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	i, result := 0, resultOK
	if err != nil && !errors.Is(err, taskstate.ErrNotFound) {
		i, result = 1, resultError
	}
	secs := max(d, 0).Seconds()
	if obs, ok := s.known[op]; ok {
		obs[i].Observe(secs)
		return
	}
	if obs, err := s.vec.GetMetricWithLabelValues(op, result); err == nil {
		obs.Observe(secs)
	}
}
