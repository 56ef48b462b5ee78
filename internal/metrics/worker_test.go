package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/metrics"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// workerOwned are the families a Worker registers (its Store's included).
var workerOwned = []string{
	"taskfleet_lease_lost_total",
	"taskfleet_store_operation_duration_seconds",
	"taskfleet_task_pickup_latency_seconds",
	"taskfleet_task_run_duration_seconds",
	"taskfleet_tasks_claimed_total",
	"taskfleet_tasks_committed_total",
	"taskfleet_tasks_failed_total",
	"taskfleet_tasks_in_flight",
	"taskfleet_tasks_reaped_total",
	"taskfleet_tasks_released_total",
	"taskfleet_tasks_retried_total",
}

// workerCounters are the Worker's counters and gauge, for CompareGather.
var workerCounters = []string{
	"taskfleet_lease_lost_total",
	"taskfleet_tasks_claimed_total",
	"taskfleet_tasks_committed_total",
	"taskfleet_tasks_failed_total",
	"taskfleet_tasks_in_flight",
	"taskfleet_tasks_reaped_total",
	"taskfleet_tasks_released_total",
	"taskfleet_tasks_retried_total",
}

func newWorker(t *testing.T, kinds ...string) (*metrics.Worker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	w, err := metrics.NewWorker(reg, "train", kinds)
	require.NoError(t, err)
	return w, reg
}

func TestWorkerFreshServesEverySeries(t *testing.T) {
	t.Parallel()
	_, reg := newWorker(t, "noop", "sleep", "noop")

	require.Equal(t, workerOwned, familyNames(t, reg))
	require.Subset(t, metrics.Names(), workerOwned)

	count := func(name string) int {
		n, err := testutil.GatherAndCount(reg, name)
		require.NoError(t, err)
		return n
	}
	require.Equal(t, 2*5, count("taskfleet_task_run_duration_seconds"), "kinds × outcomes")
	require.Equal(t, 2, count("taskfleet_tasks_reaped_total"), "requeued, failed")
	require.Equal(t, 16*2, count("taskfleet_store_operation_duration_seconds"), "ops × results")
	require.Equal(t, 1, count("taskfleet_task_pickup_latency_seconds"))

	const want = `
# HELP taskfleet_lease_lost_total Leases this worker lost while running or committing a task (its result was discarded).
# TYPE taskfleet_lease_lost_total counter
taskfleet_lease_lost_total{pool="train"} 0
# HELP taskfleet_tasks_claimed_total Tasks claimed from the pool by this worker.
# TYPE taskfleet_tasks_claimed_total counter
taskfleet_tasks_claimed_total{pool="train"} 0
# HELP taskfleet_tasks_committed_total Task results committed (to done, or to part_done in phase one).
# TYPE taskfleet_tasks_committed_total counter
taskfleet_tasks_committed_total{pool="train"} 0
# HELP taskfleet_tasks_failed_total Tasks this worker moved to failed (attempts spent, bad payload, result too large).
# TYPE taskfleet_tasks_failed_total counter
taskfleet_tasks_failed_total{pool="train"} 0
# HELP taskfleet_tasks_in_flight Tasks this worker is running now.
# TYPE taskfleet_tasks_in_flight gauge
taskfleet_tasks_in_flight{pool="train"} 0
# HELP taskfleet_tasks_reaped_total Tasks whose lease expired, recovered by this worker's reaper, by outcome (requeued, failed).
# TYPE taskfleet_tasks_reaped_total counter
taskfleet_tasks_reaped_total{outcome="failed",pool="train"} 0
taskfleet_tasks_reaped_total{outcome="requeued",pool="train"} 0
# HELP taskfleet_tasks_released_total Tasks cancelled by a shutdown and handed back to the pool at once, without spending an attempt.
# TYPE taskfleet_tasks_released_total counter
taskfleet_tasks_released_total{pool="train"} 0
# HELP taskfleet_tasks_retried_total Failed runs returned to the pool for another attempt after a backoff.
# TYPE taskfleet_tasks_retried_total counter
taskfleet_tasks_retried_total{pool="train"} 0
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), workerCounters...))

	for _, kind := range []string{"noop", "sleep"} {
		for _, outcome := range []string{"ok", "error", "panic", "lease_lost", "cancelled"} {
			h := series(t, reg, "taskfleet_task_run_duration_seconds",
				map[string]string{"pool": "train", "kind": kind, "outcome": outcome}).GetHistogram()
			require.Zero(t, h.GetSampleCount())
			require.Len(t, h.GetBucket(), 23)
			require.InDelta(t, 0.001, h.GetBucket()[0].GetUpperBound(), 1e-12)
			require.InDelta(t, 4194.304, h.GetBucket()[22].GetUpperBound(), 1e-9)
		}
	}
}

func TestWorkerRecords(t *testing.T) {
	t.Parallel()
	w, reg := newWorker(t, "noop")

	w.Claimed(5)
	w.Claimed(0)
	w.Claimed(-1) // ignored: counters only go up
	w.Committed(3)
	w.Retried(1)
	w.Failed(2)
	w.Released(1)
	w.Reaped(4, 1)
	w.Reaped(0, 0)
	w.LeaseLost(1)
	w.InFlight(3)
	w.InFlight(2)

	const want = `
# HELP taskfleet_lease_lost_total Leases this worker lost while running or committing a task (its result was discarded).
# TYPE taskfleet_lease_lost_total counter
taskfleet_lease_lost_total{pool="train"} 1
# HELP taskfleet_tasks_claimed_total Tasks claimed from the pool by this worker.
# TYPE taskfleet_tasks_claimed_total counter
taskfleet_tasks_claimed_total{pool="train"} 5
# HELP taskfleet_tasks_committed_total Task results committed (to done, or to part_done in phase one).
# TYPE taskfleet_tasks_committed_total counter
taskfleet_tasks_committed_total{pool="train"} 3
# HELP taskfleet_tasks_failed_total Tasks this worker moved to failed (attempts spent, bad payload, result too large).
# TYPE taskfleet_tasks_failed_total counter
taskfleet_tasks_failed_total{pool="train"} 2
# HELP taskfleet_tasks_in_flight Tasks this worker is running now.
# TYPE taskfleet_tasks_in_flight gauge
taskfleet_tasks_in_flight{pool="train"} 2
# HELP taskfleet_tasks_reaped_total Tasks whose lease expired, recovered by this worker's reaper, by outcome (requeued, failed).
# TYPE taskfleet_tasks_reaped_total counter
taskfleet_tasks_reaped_total{outcome="failed",pool="train"} 1
taskfleet_tasks_reaped_total{outcome="requeued",pool="train"} 4
# HELP taskfleet_tasks_released_total Tasks cancelled by a shutdown and handed back to the pool at once, without spending an attempt.
# TYPE taskfleet_tasks_released_total counter
taskfleet_tasks_released_total{pool="train"} 1
# HELP taskfleet_tasks_retried_total Failed runs returned to the pool for another attempt after a backoff.
# TYPE taskfleet_tasks_retried_total counter
taskfleet_tasks_retried_total{pool="train"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), workerCounters...))
}

func TestWorkerRan(t *testing.T) {
	t.Parallel()
	w, reg := newWorker(t, "noop")

	w.Ran("noop", 1500*time.Millisecond, "ok")
	w.Ran("noop", 500*time.Millisecond, "ok")
	w.Ran("noop", 3*time.Millisecond, "panic")
	w.Ran("fit", 90*time.Minute, "error") // a kind not given to NewWorker
	w.Ran("bad\xff", time.Second, "ok")   // not valid UTF-8: dropped, no panic

	run := func(kind, outcome string) (uint64, float64) {
		h := series(t, reg, "taskfleet_task_run_duration_seconds",
			map[string]string{"pool": "train", "kind": kind, "outcome": outcome}).GetHistogram()
		return h.GetSampleCount(), h.GetSampleSum()
	}
	n, sum := run("noop", "ok")
	require.Equal(t, uint64(2), n)
	require.InDelta(t, 2.0, sum, 1e-9)
	n, sum = run("noop", "panic")
	require.Equal(t, uint64(1), n)
	require.InDelta(t, 0.003, sum, 1e-9)
	n, _ = run("noop", "error")
	require.Zero(t, n)
	n, sum = run("fit", "error")
	require.Equal(t, uint64(1), n)
	require.InDelta(t, 5400.0, sum, 1e-9)

	count, err := testutil.GatherAndCount(reg, "taskfleet_task_run_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 5+1, count)
}

func TestWorkerPickup(t *testing.T) {
	t.Parallel()
	w, reg := newWorker(t)

	w.Pickup(300 * time.Microsecond)
	w.Pickup(20 * time.Millisecond)
	w.Pickup(45 * time.Second)
	w.Pickup(-2 * time.Second) // creator's clock ahead: recorded as zero

	const want = `
# HELP taskfleet_task_pickup_latency_seconds Time from a task becoming claimable (the later of created_at and run_after) to its handler starting.
# TYPE taskfleet_task_pickup_latency_seconds histogram
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="0.0001"} 1
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="0.00025"} 1
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="0.0005"} 2
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="0.001"} 2
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="0.0025"} 2
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="0.005"} 2
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="0.01"} 2
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="0.025"} 3
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="0.05"} 3
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="0.1"} 3
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="0.25"} 3
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="0.5"} 3
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="1"} 3
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="2.5"} 3
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="5"} 3
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="10"} 3
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="30"} 3
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="60"} 4
taskfleet_task_pickup_latency_seconds_bucket{pool="train",le="+Inf"} 4
taskfleet_task_pickup_latency_seconds_sum{pool="train"} 45.0203
taskfleet_task_pickup_latency_seconds_count{pool="train"} 4
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "taskfleet_task_pickup_latency_seconds"))
}

func TestWorkerStore(t *testing.T) {
	t.Parallel()
	w, reg := newWorker(t)
	m := &taskstate.Config{Observe: w.ObserveStore} // it fits the Manager's hook
	m.Observe("claim", 2*time.Millisecond, nil)

	h := series(t, reg, "taskfleet_store_operation_duration_seconds",
		map[string]string{"op": "claim", "result": "ok"}).GetHistogram()
	require.Equal(t, uint64(1), h.GetSampleCount())
	require.InDelta(t, 0.002, h.GetSampleSum(), 1e-12)
}

func TestWorkersShareARegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	a, err := metrics.NewWorker(reg, "train", []string{"fit"})
	require.NoError(t, err)
	b, err := metrics.NewWorker(reg, "backtest", []string{"sim"})
	require.NoError(t, err)
	a2, err := metrics.NewWorker(reg, "train", []string{"fit"})
	require.NoError(t, err)
	_, err = metrics.NewStore(reg) // a dispatcher's Store in the same process
	require.NoError(t, err)

	a.Claimed(2)
	a2.Claimed(3)
	b.Claimed(1)
	a.InFlight(4)
	a2.InFlight(1)
	a.InFlight(3)
	b.InFlight(7)

	claimed := func(pool string) float64 {
		return series(t, reg, "taskfleet_tasks_claimed_total", map[string]string{"pool": pool}).GetCounter().GetValue()
	}
	inFlight := func(pool string) float64 {
		return series(t, reg, "taskfleet_tasks_in_flight", map[string]string{"pool": pool}).GetGauge().GetValue()
	}
	require.InDelta(t, 5.0, claimed("train"), 0, "two workers of one pool add up")
	require.InDelta(t, 1.0, claimed("backtest"), 0)
	require.InDelta(t, 4.0, inFlight("train"), 0, "3 + 1")
	require.InDelta(t, 7.0, inFlight("backtest"), 0)

	n, err := testutil.GatherAndCount(reg, "taskfleet_task_run_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 2*5, n, "train/fit and backtest/sim")
	n, err = testutil.GatherAndCount(reg, "taskfleet_store_operation_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 16*2, n, "one store histogram for the process")
}

func TestNewWorkerErrors(t *testing.T) {
	t.Parallel()

	t.Run("invalid pool", func(t *testing.T) {
		t.Parallel()
		_, err := metrics.NewWorker(prometheus.NewRegistry(), "no spaces", nil)
		require.ErrorIs(t, err, taskstate.ErrInvalidPool)
	})

	t.Run("kind not UTF-8", func(t *testing.T) {
		t.Parallel()
		_, err := metrics.NewWorker(prometheus.NewRegistry(), "p", []string{"\xff"})
		require.ErrorContains(t, err, "UTF-8")
	})

	t.Run("name clash rolls back", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewPedanticRegistry()
		// The store histogram is registered last: everything before it
		// must be taken back.
		reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "taskfleet_store_operation_duration_seconds", Help: "Something else.",
		}))

		_, err := metrics.NewWorker(reg, "p", []string{"k"})
		require.ErrorContains(t, err, "taskfleet_store_operation_duration_seconds")
		require.Equal(t, []string{"taskfleet_store_operation_duration_seconds"}, familyNames(t, reg))

		// Not registered any more: registering it anew succeeds instead of
		// returning AlreadyRegisteredError.
		claimed := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskfleet_tasks_claimed_total",
			Help: "Tasks claimed from the pool by this worker.",
		}, []string{"pool"})
		require.NoError(t, reg.Register(claimed))
	})
}

func TestWorkerNilRegistry(t *testing.T) {
	t.Parallel()
	w, err := metrics.NewWorker(nil, "p", []string{"k"})
	require.NoError(t, err)
	w.Claimed(1)
	w.Ran("k", time.Second, "ok")
	w.Pickup(time.Millisecond)
	w.InFlight(1)
	w.ObserveStore("get", time.Millisecond, nil)
	require.Equal(t, "p", w.Pool())
}
