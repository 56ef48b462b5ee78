package taskstate

import "time"

// Task is one document of a pool. Field names in comments are the stored
// (MongoDB) names; SQLite columns are alike.
type Task struct {
	ID          string         // _id: 24 hex digits
	Kind        string         // kind: the handler name a worker runs it with
	Key         string         // key: dedup hash of kind and filter (unique per pool)
	Status      Status         // status
	Priority    int            // priority: higher is claimed first; default 0
	Seq         int64          // creation order within the pool (ties on priority)
	Def         []byte         // def: gob payload; nil unless asked for (QueryParams.Payloads) or claimed
	Filter      map[string]any // filter: the def as a queryable document
	Res         []byte         // res: gob payload of the last commit; nil unless asked for or claimed
	Attempts    int            // attempts: claims in the current phase (a commit to part_done sets it to 0)
	MaxAttempts int            // max_attempts: 0 means unlimited (Qlib's behaviour)
	LastError   string         // last_error: the error of the last failed attempt
	Lease       Lease          // lease: set while running
	ClaimedFrom Status         // claimed_from: the status the running claim came from
	RunAfter    time.Time      // run_after: not claimable before this (retry backoff)
	CreatedAt   time.Time      // created_at
	UpdatedAt   time.Time      // updated_at
	StartedAt   time.Time      // started_at: the last claim; zero if never claimed
	FinishedAt  time.Time      // finished_at: the last move to done, part_done or failed
}

// Lease is a worker's hold on a running task.
type Lease struct {
	Owner string    // owner: the worker id (host:pid/…)
	Token string    // token: fresh per claim; every later write is fenced on it
	Until time.Time // until: the reaper takes the task back after this plus a grace
}

// LeaseRef names one held lease: the task and the token of its claim.
type LeaseRef struct {
	ID    string
	Token string
}

// Ref returns the lease reference of a claimed task.
func (t *Task) Ref() LeaseRef { return LeaseRef{ID: t.ID, Token: t.Lease.Token} }

// Counts is the number of tasks per status. Every status is present, zeros
// included.
type Counts map[Status]int

// Undone is waiting + running + part_done, Qlib's _get_undone_n.
func (c Counts) Undone() int {
	return c[StatusWaiting] + c[StatusRunning] + c[StatusPartDone]
}

// Total is the sum over all statuses.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// NewCounts returns Counts with every status at zero.
func NewCounts() Counts {
	c := make(Counts, len(Statuses))
	for _, s := range Statuses {
		c[s] = 0
	}
	return c
}
