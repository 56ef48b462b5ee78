// Package events is taskfleet's event bus on NATS JetStream: after a store
// write, the task Manager publishes a hint, and workers and waiters that
// sleep on a Wakeup look at the store within milliseconds instead of at
// their next poll.
//
// # Events are hints
//
// The task store (SQLite or MongoDB) is the truth; an event only says "look
// again". A lost event costs latency, never a task: workers also poll with
// jitter, and a waiter subscribes first, then counts from the store, then
// recounts on every wake-up and on a fallback timer. No correctness
// property depends on an event arriving, arriving once, or arriving in
// order; a duplicate costs one empty claim or one extra count. NATS is
// optional: without it everything works by polling.
//
// # Subjects
//
// Every event goes to "taskfleet.<pool>.<event>" (see Subject), where the
// pool is a taskstate pool name and the event one of
//
//	created    new tasks were inserted (Manager.Create)
//	available  tasks became claimable again (return, reap, reset)
//	committed  tasks were committed to done or part_done
//	failed     tasks moved to failed
//
// The body is JSON, {"n":3,"at":1700000000000000000} (see Payload): how
// many tasks the write touched and the publish time in Unix nanoseconds.
// Each message carries a unique Nats-Msg-Id header (a nuid).
//
// # The streams
//
// Stream TASKFLEET captures "taskfleet.>" with limits retention, MaxAge 1 h,
// a 2 min duplicate window, discard-old, file storage (Config.MemoryStorage
// for memory) and Config.Replicas replicas; see Conn.StreamConfig. It is the
// history that tools replay (`dispatcher events`); taskfleet's workers do
// not consume it.
//
// Stream TASKFLEET_WORK captures "taskfleet-work.<pool>.<kind>" with
// work-queue retention (see Conn.WorkStreamConfig): for every created or
// available event the Publisher also puts min(n, Config.WorkFanout)
// wake-ups on the queue of each kind among the event's tasks (on the
// pool's any-kind queue "taskfleet-work.<pool>._" when the writer did not
// know the kinds), and the workers of a kind share one durable pull
// consumer per queue, "work-<len(pool)>-<pool>-<kind>", so each wake-up
// goes to one idle worker of that kind (see WorkWakeup). A kind that is
// not letters, digits, '-' and '_' is named by a hash (kindToken).
// Wake-ups older than a minute, or beyond the newest 1,024 of a queue, are
// dropped; tasks back after a retry backoff wake nobody (their runner
// claims when the backoff ends).
//
// Both streams are bounded so a flood of publishes cannot fill a disk:
// Config.StreamMaxBytes (default 256 MiB), StreamMaxMsgs (1,000,000) and
// StreamMaxMsgSize (4 KiB); when full, the oldest messages go. The binaries
// set them with --nats-max-bytes, --nats-max-msgs and --nats-max-msg-size.
// A Conn ensures both streams on connect, after every reconnect (a fresh
// server has none) and when a publish finds no stream, and updates existing
// streams to its limits, so every process of a fleet should be given the
// same ones. Neither stream ever decides who runs a task: the store's
// leases do.
//
// # Publishing
//
// Publisher implements taskstate.Notifier. Notify publishes asynchronously
// (JetStream PublishAsync) and returns in microseconds; it never blocks on
// the network and never returns an error. The stream's ack counts the event
// in taskfleet_events_published_total{pool,event}; a negative or missing
// ack, a publish while disconnected, or a full window (Config.MaxPending
// acks outstanding: the event is dropped rather than blocking the caller)
// counts it in taskfleet_events_publish_failed_total{pool,event} and logs a
// warning at most every 5 s with the number of lines suppressed. The client's
// reconnect buffer is off, so a publish during an outage fails at once
// instead of seeming sent. PublishAsync rather than a core publish: the ack
// is what tells "stored" from "lost" and reveals a missing stream, and at
// one notification per store write its cost does not matter, except in
// the microseconds between a created task's commit and its wake-up: a
// created or available event's JetStream publish runs on a goroutine of
// the Conn while the caller publishes the wake-ups and waits, so that the
// wake-ups leave first (historyqueue.go).
//
// # Wake-ups
//
// Conn.WorkWakeups is what workers use: a pull on the work queue of each
// of the worker's kinds and on the pool's any-kind queue, handed to the
// worker only while it has a free slot (its runner receives from the
// channel only then). One created event for one task wakes one worker of
// its kind, not every worker of the pool, so the store's load grows with
// tasks, not with workers × events. A wake-up the worker does not take
// within 10 ms goes back to the queue for another worker (at most four
// offers); a worker whose claim finds nothing has still acked it. The
// pulls speak JetStream's pull protocol on one inbox per queue.
//
// Each wake-up first takes a fast path (wake.go): a core message on
// "taskfleet-wake.<pool>.<kind>", whose members are the WorkWakeups of the
// kind in one queue group, so the server hands it to one worker from its
// read loop without storing it. A member whose worker does not take it
// within 2 ms puts it on the work queue; when there is no member, the
// server answers "no responders" and the Publisher puts it there. A
// member holds at most 1,024 wake-ups (256 KiB) that wait for its
// worker; past that the client drops them, so junk published on the
// subject costs a bounded amount of memory, and what is passed on to the
// work queue is bounded by the stream's limits. While the
// queues answer (WorkWakeup.Live) a worker polls only every
// --event-poll-interval (5 s): wake-ups find the work, the poll covers a
// lost one.
//
// Conn.Wakeups is what waiters (and phase-two workers) use: a core NATS
// subscription to events of one pool, delivered as coalesced wake-ups on a
// channel of capacity one: any number of events while a wake-up is pending
// leave one pending wake-up. Wake-ups are throttled on the leading edge by
// Config.Debounce (2 ms by default): the first event signals at once, so a
// single event pays no added latency, and the events that follow within
// the interval are folded into one more signal at its end, so the last
// event of a burst is always followed by a wake-up. Core subscriptions
// need no consumer state on the server and the client resubscribes after a
// reconnect on its own. After a reconnect the Wakeup signals C and
// Reconnected, because events may have been missed during the outage.
//
// Every wake-up is a hint. The runner backs off wake-ups whose claims find
// nothing (see taskstate.RunnerConfig.Wakeups), so junk on a pool's
// subjects costs each worker a bounded claim rate, and its poll still picks
// up a real task within the poll interval.
//
// # Connections
//
// Connect retries a server that does not answer for Config.ConnectRetry and
// fails at once on refused credentials (ErrAuthorization). Once connected,
// a Conn reconnects forever with a short jittered wait, so a NATS restart
// is survived. Credentials never appear in logs or errors: every URL goes
// through Redact ("nats://***@host:4222").
//
// # Embedded server
//
// StartEmbedded runs nats-server with JetStream in this process, for the
// fully embedded default (ConnectInProcess skips TCP) and for
// `dispatcher dev`, which serves a local multi-process fleet on a fixed
// address. Package eventstest wraps it for tests.
//
// # Metrics
//
// With Config.Registerer set, a Conn registers
//
//	taskfleet_events_published_total{pool,event}       acked by the stream
//	taskfleet_events_publish_failed_total{pool,event}  not published (see above)
//	taskfleet_events_received_total{pool,event}        received by wake-ups (event "work": work-queue wake-ups taken)
//	taskfleet_events_reconnects_total                  reconnections
//	taskfleet_events_connected                         1 while connected
//
// Publisher.InitPool creates a pool's series at zero.
package events
