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
// # The stream
//
// Stream TASKFLEET captures "taskfleet.>" with limits retention, MaxAge 1 h,
// a 2 min duplicate window, discard-old, file storage (Config.MemoryStorage
// for memory) and Config.Replicas replicas; see Conn.StreamConfig. It is
// for tools and late readers that want recent history; taskfleet itself
// never consumes it. It is never a work queue: the store's leases decide
// who runs a task. A Conn ensures the stream on connect, after every
// reconnect (a fresh server has none) and when a publish finds no stream.
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
// one notification per store write its cost does not matter.
//
// # Wake-ups
//
// Conn.Wakeups subscribes to events of one pool and delivers them as
// coalesced wake-ups on a channel of capacity one: any number of events
// while a wake-up is pending leave one pending wake-up. Wake-ups are
// throttled on the leading edge by Config.Debounce (2 ms by default): the
// first event signals at once, so a single event pays no added latency, and
// the events that follow within the interval are folded into one more
// signal at its end, so the last event of a burst is always followed by a
// wake-up.
//
// A Wakeup uses a core NATS subscription: JetStream-published messages
// reach core subscribers too, delivery is the fastest NATS has, the client
// resubscribes after a reconnect on its own, and there is no consumer state
// on the server. After a reconnect the Wakeup signals C and Reconnected,
// because events may have been missed during the outage.
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
//	taskfleet_events_received_total{pool,event}        received by wake-ups
//	taskfleet_events_reconnects_total                  reconnections
//	taskfleet_events_connected                         1 while connected
//
// Publisher.InitPool creates a pool's series at zero.
package events
