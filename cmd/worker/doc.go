// Command worker runs tasks of a taskfleet pool: Qlib's run_task as a
// long-lived process with a bounded goroutine pool, leases, heartbeats,
// retries, a reaper and Prometheus metrics. Run `worker --help` for flags.
//
// Leases are on the store's clock: the worker passes durations (--lease,
// --reap-grace, retry backoff) and the store computes every lease end and
// expiry, so a worker whose clock is off neither reaps healthy leases nor
// keeps a crashed worker's tasks for longer than lease + grace. For tests,
// TASKFLEET_TEST_CLOCK_OFFSET (a duration such as "1h" or "-1h") shifts
// the worker's own clock to show exactly that.
package main
