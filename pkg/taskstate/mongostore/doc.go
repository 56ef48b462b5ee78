// Package mongostore is the MongoDB backend of taskstate.Store, on
// go.mongodb.org/mongo-driver/v2.
//
//	s, err := mongostore.Open(ctx, mongostore.Config{URI: "mongodb://host1,host2/?replicaSet=rs0"})
//	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "rolling"})
//
// # Schema
//
// One database (Config.Database, default "taskfleet") holds one collection
// per pool, named after the pool, as in Qlib: listing the collections lists
// the pools. A task is one document:
//
//	_id           ObjectId   the task id (24 hex digits in the API)
//	key           string     SHA-256 of kind and canonical filter; unique
//	kind          string     handler name
//	status        string     waiting | running | part_done | done | failed
//	priority      int        higher is claimed first
//	seq           int64      creation order (see below)
//	attempts      int        claims in the current phase (0 again at part_done)
//	max_attempts  int        0: unlimited
//	filter        document   the def as a queryable document, keys sorted
//	def           binary     gob payload
//	res           binary     gob payload of the last commit (absent before)
//	last_error    string     absent until an attempt fails
//	lease         {owner string, token string, until date}   only while running
//	claimed_from  string     only while running: waiting or part_done
//	run_after     date       absent, or not claimable before it (backoff)
//	created_at, updated_at, started_at, finished_at   date
//
// seq is the creation time in Unix nanoseconds, made strictly increasing
// within a process (a batch of n tasks takes n consecutive values, and a
// clock that stands still or steps back never gives a smaller value). It
// orders claims of equal priority and queries. Across processes it is the
// order of their clocks, which is as much as "creation order" can mean for
// concurrent creators.
//
// BSON dates hold milliseconds: times read back are the times written,
// truncated to the millisecond, in UTC. A task can therefore be claimed up
// to a millisecond before its run_after, and a lease can be seen as expired
// up to a millisecond late.
//
// The filter is stored with the keys of every sub-document sorted, and
// query values that are documents are sorted the same way, because MongoDB
// compares embedded documents field by field in order. Numbers in the
// filter are doubles, as in the def's JSON form; they read back as float64
// (integers written by another program too). Query operators compare
// numbers across BSON types, so {"filter.window": 3} matches 3.0.
//
// # Indexes
//
// The first CreateTasks of a pool in each Store lists the pool's indexes and
// creates the missing ones:
//
//	key_1                        {key: 1}, unique: idempotent, race-free create
//	status_1_priority_-1_seq_1   the claim: equality on status, then the sort
//	status_1_kind_1_priority_-1_seq_1   the claim of a worker with --kinds
//	status_1_lease.until_1       the reaper: running tasks by lease expiry
//	seq_1                        Query: creation order without an in-memory sort
//	status_1_seq_1               pages by status in creation order (the console)
//
// An existing key_1 index that is not unique is reported as an error rather
// than silently used. A collection that already holds several tasks with
// one key (written by another program) cannot get the unique index: the
// create fails with ErrDuplicateKeys and names up to five such keys. Only CreateTasks creates indexes (and collections):
// a claim or a query on a pool that does not exist finds nothing and
// creates nothing.
//
// Dotted paths of the def are indexed only when declared
// (Store.CreatePathIndex, `dispatcher index --path model.class`): an
// ascending index named path_filter.model.class on that field, multikey
// over arrays. PathIndexes lists the pool's indexes named path_*. The
// SQLite backend declares the same indexes its own way; see sqlitestore.
//
// # Guarantees
//
// Claim is a loop of findOneAndUpdate, one task per call: filter on status,
// run_after, kinds and the query, sort {priority: -1, seq: 1}, set status,
// lease, claimed_from and started_at, increment attempts. Each call is
// atomic on its document, so two claimers never get the same task.
//
// Every later write about a claimed task (Finish, Heartbeat) is fenced: its
// filter is {_id, status: "running", lease.token}, so a worker whose lease
// was reaped or reset changes nothing. Finish issues one updateOne per item,
// a few in parallel, because only per-document results say which items
// applied; Heartbeat is one updateMany over all leases (grouped by token)
// followed by one find that tells which are still held.
//
// A claim first finds one claimable task's id (a read); only when there is
// one does it send findOneAndUpdate, so an idle worker's polls write
// nothing.
//
// # The server's clock
//
// Every lease end and expiry is the server's time, never the worker's: a
// claim or heartbeat sets lease.until to the server's now + the lease, the
// reaper lists and fences on lease.until < the server's now - grace, and a
// retry's run_after is the server's now + the backoff. The Mongo-wire test
// server (FerretDB v1) supports $currentDate but neither $$NOW nor
// pipeline updates, and $currentDate cannot add a lease to the time, so
// the store reads the server's clock instead: the localTime of the hello
// command, taken at the midpoint of the round trip, gives the offset of
// the server's clock to this process's, read again every minute (see
// clock.go). A worker whose clock is an hour off leases by the server's
// time all the same, within the round trip and BSON's millisecond.
//
// CreateTasks is one unordered insertMany; duplicate-key errors (E11000)
// from the unique key index mark the tasks some other creator inserted
// first, and one find on their keys returns those tasks' ids.
//
// Whatever the URI says, writes use write concern {w: "majority", j: true}
// (an acknowledged claim or commit is journaled on a majority and survives
// a failover) and reads go to the primary (the heartbeat's read-back, the
// key lookup of a create, Stat, the reaper's listing and wait decide
// transitions and counts, and a secondary may lag). A URI with w=0 is
// refused with ErrUnacknowledgedWrites: an unacknowledged claim or commit
// cannot tell whether it applied. Other settings are replaced with a
// warning in the log. Unless the URI says otherwise, writes are retryable
// (the driver retries insertMany, findOneAndUpdate and updateOne once after
// a network error or a failover, and the server does not apply them twice).
// updateMany and deleteMany (Heartbeat, Update, Delete) are not retryable;
// their callers retry on the next heartbeat or by hand, and both are
// idempotent. A claim whose retry also fails may have happened: that task
// stays running until its lease expires and the reaper takes it back.
//
// Credentials in the URI never appear in errors or logs: errors name the URI
// as Redact returns it, and every error from the driver has the URI's
// secrets scrubbed from its message.
//
// # Document size
//
// MongoDB stores at most 16 MiB per document (FerretDB does not enforce
// it, so the store does). A new task's document (def, filter and
// metadata) may take 16 MiB less 68 KiB, leaving room for a small result:
// CreateTasks refuses a batch with a larger entry, with an error wrapping
// taskstate.ErrPayloadTooLarge that names its index, before writing any.
// A commit whose result is over 64 KiB first reads the task's document
// (under the lease fence, without its current result); if the result
// would not fit, the commit becomes a fenced move to failed whose
// last_error says why: a retry would produce the same result. Finish
// reports that item applied (the task left running as the caller asked),
// so a worker counts it among its commits; the task's status tells. Large
// outputs belong in artifacts (GridFS).
//
// # What the tests prove
//
// The tests run against FerretDB v1 (tools/mongotestserver), which speaks
// the MongoDB wire protocol over SQLite. Its findAndModify and conditional
// updates are a query then a separate write, so on it concurrent claimers
// can be handed the same task and two fenced commits of one lease can both
// report success; Store.IsFerretDB reports it, from buildInfo. The Store
// contract suite therefore runs every case on the server as is, and its
// atomicity cases (concurrent claims are exclusive, concurrent commits
// apply once) through the server's serialising proxy, which forwards one
// command at a time (TASKFLEET_TEST_MONGO_PROXY_URI, set by `make test`):
// that proves our sequence of commands is race-free if each command is
// atomic on its document, which is MongoDB's documented guarantee. A store
// that checks, then acts in a second command fails those cases through the
// proxy (the negative control), and a fleet of real dispatcher and worker
// processes runs through it with every task claimed and committed once.
//
// Only a real MongoDB replica set shows MongoDB's own atomicity, retries
// across a failover, majority acknowledgement and rollback, and how the
// planner uses the indexes: set TASKFLEET_TEST_MONGO_URI to its URI and
// run `make test`, and every case runs on it directly.
//
// FerretDB v1 also drops the connection when createIndexes is asked for
// several indexes that all exist; the list-then-create-missing index setup
// above avoids that.
package mongostore
