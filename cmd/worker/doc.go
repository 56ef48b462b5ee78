// Command worker runs tasks of a taskfleet pool: Qlib's run_task as a
// long-lived process with a bounded goroutine pool, leases, heartbeats,
// retries, a reaper and Prometheus metrics. Run `worker --help` for flags.
package main
