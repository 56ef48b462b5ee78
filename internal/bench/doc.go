// Package bench is the logic of `dispatcher bench`: end-to-end benchmarks
// of a taskfleet pool on the embedded default (a fresh SQLite file and an
// in-process NATS server) or on a given store, with in-process Runners.
//
// # Scenarios
//
//   - burndown: create N no-op tasks, start the fleet, time it until every
//     task is done (tasks/s).
//   - pickup: on an idle fleet, create one task at a time and time create →
//     handler start (percentiles).
//   - wait: time Manager.Wait's return after the commit of the last task it
//     waits for (percentiles).
//   - create: create CreateN tasks in batches (tasks/s).
//   - stat: count a pool of CreateN tasks by status (median).
//
// Run runs them; Results carries the figures with the configuration they
// were measured with, and WriteTable prints them. Timing is never asserted
// by the tests: docs/BENCHMARKS.md records the figures of a real run.
//
// # Costs
//
// Run creates up to N + CreateN + PickupSamples + WaitSamples tasks in
// pools named bench-<run>-<scenario>, and removes them at the end unless
// Config.Keep is set (a temporary store is removed whole).
package bench
