// Package metrics exports taskfleet's Prometheus metrics and serves them
// over HTTP.
//
// Every constructor takes the prometheus.Registerer to register on; nothing
// touches the global registry. A worker process wires it like this:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
//	wm, err := metrics.NewWorker(reg, pool, kinds) // RunnerConfig.Metrics: wm
//	m, err := taskstate.NewManager(taskstate.Config{..., Observe: wm.ObserveStore})
//	reg.MustRegister(metrics.NewPoolCollector(
//		func(ctx context.Context, _ string) (taskstate.Counts, error) { return m.Stat(ctx, taskstate.Query{}) },
//		metrics.StaticPools(pool), 5*time.Second, log))
//	srv, err := metrics.Serve(ctx, ":9090", reg, ready, log) // stops when ctx is done
//	defer srv.Wait()
//
// A dispatcher uses NewStore for its Manager's Observe and a pool collector
// that lists every pool of the store.
//
// # Metrics
//
// Every series a dashboard needs exists from the start: NewWorker and
// NewStore create each known label combination at zero (the pool; the
// kinds × outcomes; the store operations × results; the reaper outcomes),
// and the pool collector reports all five statuses, zeros included. Names
// lists the metric names.
//
//	| Name                                       | Type      | Labels              | Meaning                                                                                   |
//	|--------------------------------------------|-----------|---------------------|-------------------------------------------------------------------------------------------|
//	| taskfleet_tasks_claimed_total              | counter   | pool                | Tasks claimed by this worker.                                                             |
//	| taskfleet_tasks_committed_total            | counter   | pool                | Results committed (to done, or to part_done in phase one).                                |
//	| taskfleet_tasks_retried_total              | counter   | pool                | Failed runs returned to the pool for another attempt after a backoff.                     |
//	| taskfleet_tasks_failed_total               | counter   | pool                | Tasks moved to failed: attempts spent, undecodable payload, result too large.             |
//	| taskfleet_tasks_released_total             | counter   | pool                | Tasks cancelled by a shutdown and handed back at once, without spending an attempt.       |
//	| taskfleet_tasks_reaped_total               | counter   | pool, outcome       | Expired leases recovered by the reaper; outcome requeued or failed (attempts spent).      |
//	| taskfleet_lease_lost_total                 | counter   | pool                | Leases lost while running or committing; the result was discarded.                        |
//	| taskfleet_task_run_duration_seconds        | histogram | pool, kind, outcome | Handler run time; outcome ok, error, panic, lease_lost or cancelled. Buckets 1 ms–70 min. |
//	| taskfleet_task_pickup_latency_seconds      | histogram | pool                | Handler start − max(created_at, run_after). Buckets 100 µs–60 s.                          |
//	| taskfleet_tasks_in_flight                  | gauge     | pool                | Tasks running on this worker now.                                                         |
//	| taskfleet_store_operation_duration_seconds | histogram | op, result          | Task-store call latency; result ok or error. Buckets 100 µs–10 s.                         |
//	| taskfleet_tasks                            | gauge     | pool, status        | Tasks per status (waiting, running, part_done, done, failed), read at scrape time.        |
//	| taskfleet_pool_stat_up                     | gauge     |                     | 1 if the last reading of the task counts covered every pool, else 0.                      |
//	| taskfleet_pool_paused                      | gauge     | pool                | 1 while the pool is paused (dispatcher pause), else 0.                                    |
//	| taskfleet_pool_stat_errors_total           | counter   |                     | Failed readings of the task counts (listing pools or counting one pool).                  |
//	| taskfleet_events_published_total           | counter   | pool, event         | Task events acknowledged by the JetStream stream (package pkg/events).                    |
//	| taskfleet_events_publish_failed_total      | counter   | pool, event         | Task events that could not be published; workers and waiters fall back to polling.        |
//	| taskfleet_events_received_total            | counter   | pool, event         | Task events received by wake-up subscriptions, before coalescing.                         |
//	| taskfleet_events_reconnects_total          | counter   |                     | Reconnections to the NATS server.                                                         |
//	| taskfleet_events_connected                 | gauge     |                     | 1 while the connection to the NATS server is up.                                          |
//
// The store operations (op) are create, claim, commit, commit_claim (a
// batch of commits and the next claim in one call, on SQLite), return,
// release, fail, heartbeat, list_expired, reap, stat, get, remove,
// reset_status, retry_failed and prioritize. A store call that found no such task counts
// as ok; a call abandoned because its caller's context was cancelled is not
// recorded.
//
// Pickup latency is the number to watch for an event-driven fleet: with
// events working it stays in the low milliseconds; when it climbs to the
// poll interval, wake-ups are being lost; when it keeps climbing, the
// fleet is short of workers.
//
// # HTTP
//
// Serve exposes /metrics (OpenMetrics when asked for), /healthz (liveness:
// 200 while the process runs) and /readyz (readiness: 200 when the ready
// function returns nil, else 503 with its error).
package metrics
