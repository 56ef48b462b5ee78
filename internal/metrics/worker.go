package metrics

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// runOutcomes are the outcomes taskstate.Runner passes to Ran.
var runOutcomes = taskstate.Outcomes()

// runBuckets run from 1 ms to about 70 minutes, doubling: a noop task to a
// model fit.
var runBuckets = prometheus.ExponentialBuckets(0.001, 2, 23)

// pickupBuckets are fine at the low end, where an event-driven pickup
// lands (sub-millisecond to tens of milliseconds), and reach 60 s, where
// only a backlog or a missed wake-up and a slow poll would put a task.
var pickupBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// Worker records what a taskstate.Runner does, for one pool, in
// Prometheus metrics; it implements taskstate.RunnerMetrics. Its
// ObserveStore method fits taskstate.Config.Observe. It is safe for
// concurrent use.
type Worker struct {
	pool  string
	store *Store

	claimed, committed, retried, failed, released prometheus.Counter
	leaseLost, reapRequeued, reapFailed           prometheus.Counter

	runVec   *prometheus.HistogramVec
	run      map[runKey]prometheus.Observer
	pickup   prometheus.Observer
	inFlight prometheus.Gauge
	// lastInFlight is this Worker's share of the in-flight gauge, which
	// Workers of the same pool on one registry add up in.
	lastInFlight atomic.Int64
}

type runKey struct {
	kind    string
	outcome taskstate.Outcome
}

var _ taskstate.RunnerMetrics = (*Worker)(nil)

// NewWorker registers the worker metrics on reg and initialises, for pool,
// every counter, the in-flight gauge, the pickup histogram, the run
// histogram for each of kinds × outcomes, and the store histogram for every
// known operation, to zero: a fresh worker serves every series a dashboard
// asks for. Kinds are the handler kinds the worker runs; a kind not listed
// is recorded when it first runs.
//
// A nil reg registers nothing. Several Workers may share reg, one per pool
// a process works on: they share the collectors and each adds its pool's
// series. Two Workers of the same pool add up.
func NewWorker(reg prometheus.Registerer, pool string, kinds []string) (*Worker, error) {
	if err := taskstate.ValidatePool(pool); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	for _, k := range kinds {
		if !utf8.ValidString(k) {
			return nil, fmt.Errorf("metrics: kind %q is not valid UTF-8", k)
		}
	}
	r := &registrar{reg: reg}
	w, err := newWorker(r, pool, kinds)
	if err != nil {
		r.rollback()
		return nil, err
	}
	return w, nil
}

func newWorker(r *registrar, pool string, kinds []string) (*Worker, error) {
	poolLabel := []string{"pool"}
	var err error
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		if err != nil {
			return nil
		}
		var v *prometheus.CounterVec
		v, err = register(r, name, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
		return v
	}
	claimed := counter(nameClaimed, "Tasks claimed from the pool by this worker.", poolLabel)
	committed := counter(nameCommitted, "Task results committed (to done, or to part_done in phase one).", poolLabel)
	retried := counter(nameRetried, "Failed runs returned to the pool for another attempt after a backoff.", poolLabel)
	failed := counter(nameFailed, "Tasks this worker moved to failed (attempts spent, bad payload, result too large).", poolLabel)
	released := counter(nameReleased, "Tasks cancelled by a shutdown and handed back to the pool at once, without spending an attempt.", poolLabel)
	reaped := counter(nameReaped, "Tasks whose lease expired, recovered by this worker's reaper, by outcome (requeued, failed).", []string{"pool", "outcome"})
	leaseLost := counter(nameLeaseLost, "Leases this worker lost while running or committing a task (its result was discarded).", poolLabel)
	if err != nil {
		return nil, err
	}
	runVec, err := register(r, nameRun, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    nameRun,
		Help:    "Handler run time by kind and outcome (ok, error, panic, lease_lost, cancelled).",
		Buckets: runBuckets,
	}, []string{"pool", "kind", "outcome"}))
	if err != nil {
		return nil, err
	}
	pickupVec, err := register(r, namePickup, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    namePickup,
		Help:    "Time from a task becoming claimable (the later of created_at and run_after) to its handler starting.",
		Buckets: pickupBuckets,
	}, poolLabel))
	if err != nil {
		return nil, err
	}
	inFlightVec, err := register(r, nameInFlight, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: nameInFlight,
		Help: "Tasks this worker is running now.",
	}, poolLabel))
	if err != nil {
		return nil, err
	}
	store, err := newStore(r)
	if err != nil {
		return nil, err
	}

	// Every collector is registered: create the series.
	w := &Worker{
		pool:         pool,
		store:        store,
		claimed:      claimed.WithLabelValues(pool),
		committed:    committed.WithLabelValues(pool),
		retried:      retried.WithLabelValues(pool),
		failed:       failed.WithLabelValues(pool),
		released:     released.WithLabelValues(pool),
		leaseLost:    leaseLost.WithLabelValues(pool),
		reapRequeued: reaped.WithLabelValues(pool, "requeued"),
		reapFailed:   reaped.WithLabelValues(pool, "failed"),
		runVec:       runVec,
		run:          make(map[runKey]prometheus.Observer),
		pickup:       pickupVec.WithLabelValues(pool),
		inFlight:     inFlightVec.WithLabelValues(pool),
	}
	for _, k := range slices.Compact(slices.Sorted(slices.Values(kinds))) {
		for _, o := range runOutcomes {
			w.run[runKey{k, o}] = runVec.WithLabelValues(pool, k, string(o))
		}
	}
	return w, nil
}

// Pool returns the pool this Worker records.
func (w *Worker) Pool() string { return w.pool }

// ObserveStore records one store call (see Store.Observe). Pass it as
// taskstate.Config.Observe.
func (w *Worker) ObserveStore(op string, d time.Duration, err error) { w.store.Observe(op, d, err) }

// Claimed counts n claimed tasks.
func (w *Worker) Claimed(n int) { add(w.claimed, n) }

// Committed counts n committed results.
func (w *Worker) Committed(n int) { add(w.committed, n) }

// Retried counts n failed runs returned for another attempt.
func (w *Worker) Retried(n int) { add(w.retried, n) }

// Failed counts n tasks moved to failed.
func (w *Worker) Failed(n int) { add(w.failed, n) }

// Released counts n tasks handed back on shutdown without spending an
// attempt.
func (w *Worker) Released(n int) { add(w.released, n) }

// Reaped counts expired leases recovered by the reaper: requeued tasks
// went back to the pool, failed ones had spent their attempts.
func (w *Worker) Reaped(requeued, failed int) {
	add(w.reapRequeued, requeued)
	add(w.reapFailed, failed)
}

// LeaseLost counts n lost leases.
func (w *Worker) LeaseLost(n int) { add(w.leaseLost, n) }

// Ran observes one handler run of kind with duration d and outcome (ok,
// error, panic, lease_lost or cancelled).
func (w *Worker) Ran(kind string, d time.Duration, outcome taskstate.Outcome) {
	secs := max(d, 0).Seconds()
	if obs, ok := w.run[runKey{kind, outcome}]; ok {
		obs.Observe(secs)
		return
	}
	// A kind or outcome not given to NewWorker. A label value that is not
	// valid UTF-8 cannot be recorded; a metric never stops a task.
	if obs, err := w.runVec.GetMetricWithLabelValues(w.pool, kind, string(outcome)); err == nil {
		obs.Observe(secs)
	}
}

// Pickup observes a pickup latency: handler start − max(created_at,
// run_after). A negative d (the creator's clock ahead of this host's) is
// recorded as zero.
func (w *Worker) Pickup(d time.Duration) { w.pickup.Observe(max(d, 0).Seconds()) }

// InFlight sets the number of tasks this worker is running.
func (w *Worker) InFlight(n int) {
	prev := w.lastInFlight.Swap(int64(n))
	w.inFlight.Add(float64(int64(n) - prev))
}

// add adds n to c; counters only go up, so n ≤ 0 adds nothing.
func add(c prometheus.Counter, n int) {
	if n > 0 {
		c.Add(float64(n))
	}
}
