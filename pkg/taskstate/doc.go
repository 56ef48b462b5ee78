// Package taskstate is taskfleet's task pool: the Go counterpart of Qlib's
// TaskManager (qlib/workflow/task/manage.py), made safe for a fleet.
//
// A task is a definition (any gob-encodable Go value, usually a nested
// map[string]any as in Qlib) stored in a named pool together with a status,
// a lease, an attempt count and, once it has run, a result. The status keeps
// Qlib's exact strings and adds one terminal status:
//
//	waiting  --claim-->  running  --commit-->  done | part_done
//	part_done --claim--> running               (phase two of a two-phase task)
//	running  --return (attempts left)-->  the status it was claimed from
//	running  --return (no attempts left) / bad payload-->  failed
//	running  --lease expired (reaper)-->  claimed-from status, or failed
//
// Attempts are counted per phase: the commit to part_done sets the count
// back to 0, so phase two has the whole max_attempts budget, and a retry of
// phase two returns the task to part_done, not to phase one.
//
// Every transition out of running is a compare-and-set on the task id, the
// running status and the lease token handed out by the claim, so a worker
// whose lease was taken away (by the reaper or an admin reset) cannot
// overwrite the work of the worker that holds the task now: its write fails
// with ErrLeaseLost and changes nothing.
//
// The package is split the way riverqueue/river splits its driver layer:
//
//   - Store is the storage seam, one params struct per method; it is
//     internal to taskfleet and may change without notice. Backends live in
//     subpackages (sqlitestore, mongostore) and all pass the Store contract
//     suite, taskstatetest.Exercise.
//   - Manager is the API users call: Create, Claim, Commit, Return, Fail,
//     Heartbeat, ReapExpired, ResetStatus, ResetWaiting, RetryFailed,
//     Prioritize, Remove, Query, Get, Stat and ListPools. It encodes payloads,
//     computes dedup keys, applies the retry policy and, after every store
//     write that succeeded, publishes a hint through a Notifier.
//   - Runner is a worker's loop (Qlib's run_task, long-lived): a goroutine
//     pool that claims only free slots, one heartbeat for every held lease,
//     a batch completer, a reaper and a drain on shutdown. On a Store that
//     is a FinishClaimer (SQLite) the completer claims the slots its
//     commits free in the same store call (Manager.CommitManyAndClaim),
//     so a busy worker pays one write transaction per batch, not two;
//     the claim loop claims the rest. Wait is Qlib's
//     wait, woken by events. A handler stores files next to its result
//     through Artifacts(ctx); they are committed with the result, fenced
//     by the lease, and discarded with a failed attempt.
//   - Codec turns defs and results into gob payloads. A Manager's Codec
//     reuses decoders and encoders across payloads of the same types
//     (internal/gobcodec), with outputs identical to a fresh decoder's and
//     encoder's.
//
// Mapping from Qlib:
//
//	TaskManager.create_task      Manager.Create (idempotent by canonical hash, batch insert)
//	TaskManager.fetch_task       Manager.Claim (priority desc, then creation order; leased)
//	TaskManager.safe_fetch_task  Manager.RunOne (also returns the task on panic and cancellation)
//	TaskManager.commit_task_res  Manager.Commit (fenced by the lease token)
//	TaskManager.return_task      Manager.Return (fenced; attempts, backoff, last_error)
//	TaskManager.reset_status     Manager.ResetStatus
//	TaskManager.reset_waiting    Manager.ResetWaiting
//	TaskManager.prioritize       Manager.Prioritize (by id or by query)
//	TaskManager.remove           Manager.Remove (an empty query needs All)
//	TaskManager.query            Manager.Query (streaming; payloads only when asked)
//	TaskManager.re_query         Manager.Get (ErrNotFound for an unknown id)
//	TaskManager.task_stat        Manager.Stat (an aggregation, never decodes payloads)
//	TaskManager.list             Manager.ListPools
package taskstate
