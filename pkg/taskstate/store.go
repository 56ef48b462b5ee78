package taskstate

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"
)

// Store is the storage seam between the Manager and a backend (sqlitestore,
// mongostore).
//
// It is internal and unstable: it is not for use outside taskfleet and may
// change without notice. Do not implement it elsewhere; use a Manager.
//
// A backend passes the contract suite in package taskstatetest
// (taskstatetest.Exercise). The Manager is the only intended caller: it
// validates pools and queries, encodes payloads and fills timestamps, so a
// backend only stores and fences.
//
// Every method that changes a running task is fenced: it applies only where
// the task is still running under the given lease token.
type Store interface {
	// CreateTasks inserts the tasks whose key is new to the pool and returns
	// one result per input task, in input order: its id and whether this
	// call created it. Keys in Tasks are distinct. Safe with concurrent
	// creators of the same keys: exactly one insert wins (a unique index,
	// or one write transaction at a time), the others get its id. With
	// DryRun nothing is written and new tasks get an empty id.
	CreateTasks(ctx context.Context, p CreateTasksParams) ([]CreatedTask, error)

	// Claim atomically moves up to Limit claimable tasks (status From,
	// RunAfter not after the store's now, kind in Kinds when Kinds is set, matching
	// Query) to running: highest priority first, then creation order. It
	// sets the lease, claimed_from and started_at, increments attempts and
	// returns the tasks with their def (and, claimed from part_done, their
	// res: phase two runs on it). A backend may leave res out of a claim
	// from waiting, and the dedup key out of any claim.
	Claim(ctx context.Context, p ClaimParams) ([]*Task, error)

	// Finish applies fenced transitions out of running (commit, return,
	// fail, reap); a commit to part_done sets attempts back to 0
	// (Transition.NewPhase). It reports, per item, whether the transition
	// applied; an item whose task is no longer running under its token is
	// skipped.
	// A batch with an item that FinishParams.Validate rejects is refused
	// as a whole, before anything is written, with that error (wrapping
	// ErrInvalidTransition).
	Finish(ctx context.Context, p FinishParams) ([]bool, error)

	// Heartbeat extends, in one write, the leases still held to the
	// store's now + Lease, and returns the ids whose lease was lost.
	Heartbeat(ctx context.Context, p HeartbeatParams) (lost []string, err error)

	// ListExpired returns running tasks whose lease ended more than Grace
	// before the store's now, without payloads, oldest lease first.
	ListExpired(ctx context.Context, p ListExpiredParams) ([]*Task, error)

	// Update applies an admin change to every task matching Query and
	// returns how many matched.
	Update(ctx context.Context, p UpdateParams) (int64, error)

	// Delete removes every task matching Query and returns how many.
	Delete(ctx context.Context, p DeleteParams) (int64, error)

	// Query streams the tasks matching Query in creation order. Payloads
	// are read only when asked for.
	Query(ctx context.Context, p QueryParams) iter.Seq2[*Task, error]

	// Get returns one task or an error wrapping ErrNotFound.
	Get(ctx context.Context, p GetParams) (*Task, error)

	// Stat counts the tasks matching Query by status without reading
	// payloads. Every status is present in the result.
	Stat(ctx context.Context, p StatParams) (Counts, error)

	// CountKinds counts by kind at most Limit of the tasks matching
	// Query (any Limit of them when more match) and reports whether that
	// was all of them. A query of one status reads only that status's
	// tasks, however many others the pool holds. For wake-ups: which
	// kinds of worker a write that did not name its tasks concerns.
	CountKinds(ctx context.Context, p CountKindsParams) (kinds map[string]int, all bool, err error)

	// ListPools returns the names of the pools that exist, sorted.
	ListPools(ctx context.Context) ([]string, error)

	// Close releases the backend's resources.
	Close() error

	// OpsStore keeps the pool's paused state and its worker registry.
	OpsStore

	// CreatePathIndex declares an index on a dotted path of the pool's
	// defs (PathIndexParams.Field, valid for ValidIndexPath). It changes
	// how queries run, never what they match. Idempotent.
	CreatePathIndex(ctx context.Context, p PathIndexParams) error

	// PathIndexes returns the fields of the pool's path indexes, sorted.
	PathIndexes(ctx context.Context, pool string) ([]string, error)
}

// FinishClaimer is a Store that can apply a Finish and a Claim of the same
// pool in one write: a worker's completer commits its results and claims
// tasks for the slots they freed in one store round trip. The Manager
// uses it when its Store implements it, and calls Finish and Claim one
// after the other otherwise.
type FinishClaimer interface {
	// FinishAndClaim applies p.Finish, then claims with p.Claim,
	// atomically: an error applied and claimed nothing.
	FinishAndClaim(ctx context.Context, p FinishAndClaimParams) (FinishAndClaimResult, error)
}

// Shared is a Store that can tell whether other processes write to it
// now. A worker's completer then gathers larger batches
// (RunnerConfig.CommitLinger).
type Shared interface {
	// Shared reports whether another process has the store open for
	// writing, from an answer that may be a little old.
	Shared() bool
}

// FinishAndClaimParams are the arguments of FinishClaimer.FinishAndClaim.
// Both name the same pool.
type FinishAndClaimParams struct {
	Finish FinishParams
	Claim  ClaimParams
}

// FinishAndClaimResult is the outcome of FinishClaimer.FinishAndClaim.
type FinishAndClaimResult struct {
	// Applied reports, per finish item, whether its transition applied.
	Applied []bool
	// Claimed are the tasks claimed, ordered as Claim orders them.
	Claimed []*Task
}

// NewTask is a task to insert. The Manager fills every field.
type NewTask struct {
	ID     string
	Kind   string
	Key    string
	Def    []byte
	Filter map[string]any
	// FilterJSON is Filter as canonical JSON (sorted keys), for backends
	// that store it as text; nil means marshal Filter.
	FilterJSON  []byte
	Priority    int
	MaxAttempts int
}

// CreateTasksParams are the arguments of Store.CreateTasks.
type CreateTasksParams struct {
	Pool   string
	Tasks  []NewTask
	Now    time.Time
	DryRun bool
}

// CreatedTask is the outcome for one input task of CreateTasks.
type CreatedTask struct {
	ID      string // empty for a new task under DryRun
	Created bool   // this call inserted it (under DryRun: it would)
}

// ClaimParams are the arguments of Store.Claim.
type ClaimParams struct {
	Pool  string
	From  Status   // StatusWaiting or StatusPartDone
	Kinds []string // empty: any kind
	Query Query    // zero: any task
	Owner string
	Token string // fresh per call; fences every later write of these claims
	// Now stands in for the store's clock (a Manager given Config.Now, in
	// tests); zero means the store's own.
	Now time.Time
	// Lease is how long the claims hold: the lease ends at the store's now
	// + Lease. Within (0, MaxLease].
	Lease time.Duration
	Limit int // at least 1
	// Woken says an event announced claimable work for this claim (a
	// worker's wake-up whose last wake-up claim found some). A backend
	// then skips the read it otherwise makes first so that an empty claim
	// (a poll) does not write: the claim would most likely find work, and
	// the read would only delay it. A hint: the claim is the same atomic
	// claim either way.
	Woken bool
}

// Validate reports whether Claim accepts p: From is waiting or part_done
// (an error wrapping ErrInvalidStatus if not) and Lease is within
// (0, MaxLease] (ErrInvalidDuration). Both backends call it first thing in
// Claim.
func (p ClaimParams) Validate() error {
	if !p.From.Claimable() {
		return fmt.Errorf("%w: cannot claim from %q (want waiting or part_done)", ErrInvalidStatus, p.From)
	}
	return storeLease("claim lease", p.Lease)
}

// Transition is one fenced move out of running.
type Transition struct {
	ID    string
	Token string
	// Seq is the task's Seq when the caller knows it (0: unknown). A
	// backend may use it to find the task faster; ID and Token still
	// decide.
	Seq int64
	To  Status
	// SetRes stores Res (a commit); otherwise res is left as it was.
	SetRes bool
	Res    []byte
	// SetError stores LastError; otherwise last_error is left as it was.
	SetError  bool
	LastError string
	// Delay holds the task back from the next claim until the store's now
	// + Delay (retry backoff); zero means at once. Within [0, MaxLease].
	Delay time.Duration
	// UndoAttempt gives back the attempt the claim counted (a release on
	// shutdown is not a failure).
	UndoAttempt bool
	// Expired, when set, also fences on the lease having ended more than
	// Grace before the store's now: the reaper's write re-checks the expiry
	// it read, so a heartbeat that lands between its read and its write
	// wins.
	Expired bool
	Grace   time.Duration
}

// NewPhase reports whether tr commits phase one (a result stored with a
// move to part_done). Attempts are counted per phase: such a commit sets
// the task's attempts back to 0, so phase two has the whole MaxAttempts
// budget.
func (tr Transition) NewPhase() bool { return tr.SetRes && tr.To == StatusPartDone }

// FinishParams are the arguments of Store.Finish.
type FinishParams struct {
	Pool string
	// Now stands in for the store's clock (finished_at, Delay, the expiry
	// fence); zero means the store's own.
	Now   time.Time
	Items []Transition
}

// ErrInvalidTransition means a Store.Finish item asks for a move out of running
// that no operation makes (to running or to an unknown status, a result
// stored without a commit, an attempt given back without a release). The
// batch was refused and nothing was written.
var ErrInvalidTransition = errors.New("taskstate: invalid transition")

// Validate reports whether tr is a move out of running that Finish accepts,
// with an error wrapping ErrInvalidTransition if not:
//   - To is waiting, part_done, done or failed;
//   - SetRes (a commit) goes to done or part_done;
//   - UndoAttempt (a release) goes back to waiting or part_done.
func (tr Transition) Validate() error {
	switch {
	case !tr.To.Valid() || tr.To == StatusRunning:
		return fmt.Errorf("%w: cannot finish to %q (want waiting, part_done, done or failed)", ErrInvalidTransition, tr.To)
	case tr.SetRes && tr.To != StatusDone && tr.To != StatusPartDone:
		return fmt.Errorf("%w: a result is stored by a commit to done or part_done, not to %q", ErrInvalidTransition, tr.To)
	case tr.UndoAttempt && !tr.To.Claimable():
		return fmt.Errorf("%w: a release gives the task back to waiting or part_done, not to %q", ErrInvalidTransition, tr.To)
	case tr.Delay < 0 || tr.Delay > MaxLease || tr.Grace < 0 || tr.Grace > MaxLease:
		return fmt.Errorf("%w: delay %s and grace %s must be within [0, %s]", ErrInvalidTransition, tr.Delay, tr.Grace, MaxLease)
	}
	return nil
}

// Validate checks every item with Transition.Validate and returns the first
// error, naming the item. Both backends call it first thing in Finish, so
// they refuse the same batches the same way.
func (p FinishParams) Validate() error {
	for i, tr := range p.Items {
		if err := tr.Validate(); err != nil {
			return fmt.Errorf("finish item %d (task %s): %w", i, tr.ID, err)
		}
	}
	return nil
}

// HeartbeatParams are the arguments of Store.Heartbeat.
type HeartbeatParams struct {
	Pool   string
	Leases []LeaseRef
	// Lease is the new lease: it ends at the store's now + Lease. Within
	// (0, MaxLease].
	Lease time.Duration
	// Now stands in for the store's clock; zero means the store's own.
	Now time.Time
}

// Validate reports whether Heartbeat accepts p (Lease within (0, MaxLease]).
func (p HeartbeatParams) Validate() error { return storeLease("heartbeat lease", p.Lease) }

// ListExpiredParams are the arguments of Store.ListExpired.
type ListExpiredParams struct {
	Pool string
	// Grace is how long past its end a lease is left alone: a lease is
	// listed when it ended before the store's now - Grace. Within
	// [0, MaxLease].
	Grace time.Duration
	// Now stands in for the store's clock; zero means the store's own.
	Now   time.Time
	Limit int
}

// Validate reports whether ListExpired accepts p (Grace within
// [0, MaxLease]).
func (p ListExpiredParams) Validate() error {
	if p.Grace < 0 || p.Grace > MaxLease {
		return fmt.Errorf("%w: list expired: grace %s is not within [0, %s]", ErrInvalidDuration, p.Grace, MaxLease)
	}
	return nil
}

// UpdateParams are the arguments of Store.Update.
type UpdateParams struct {
	Pool  string
	Query Query
	Now   time.Time
	// Status, when set, becomes the status of every match. The lease,
	// claimed_from and run_after are cleared with it, which fences out a
	// worker that still runs a task that was reset.
	Status Status
	// ResetAttempts sets attempts to 0 and clears last_error.
	ResetAttempts bool
	// Priority, when set, becomes the priority of every match.
	Priority *int
	// LastError, when set, becomes last_error of every match and
	// finished_at becomes Now (an admin ending tasks with a reason: cancel).
	LastError *string
	// KeepCancelled leaves out the matches whose last_error starts with
	// CancelledPrefix.
	KeepCancelled bool
}

// DeleteParams are the arguments of Store.Delete.
type DeleteParams struct {
	Pool  string
	Query Query
}

// QueryParams are the arguments of Store.Query.
type QueryParams struct {
	Pool     string
	Query    Query
	Payloads bool // read def and res
	Limit    int  // 0: no limit
	Desc     bool // newest first (descending creation order)
}

// GetParams are the arguments of Store.Get.
type GetParams struct {
	Pool     string
	ID       string
	Payloads bool
}

// CountKindsParams are the arguments of Store.CountKinds.
type CountKindsParams struct {
	Pool  string
	Query Query
	Limit int // at least 1
}

// CapKinds is how a backend's CountKinds ends: counts, grouped by kind
// from at most limit+1 matching tasks (one more, to tell "all" from
// "limit"), are cut to limit tasks in all, taken from the kinds in name
// order, and all reports whether nothing was cut.
func CapKinds(counts map[string]int, limit int) (kinds map[string]int, all bool) {
	kinds, n, all := make(map[string]int, len(counts)), 0, true
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		c := counts[k]
		if n+c > limit {
			c, all = limit-n, false
		}
		if c > 0 {
			kinds[k] = c
			n += c
		}
	}
	return kinds, all
}

// StatParams are the arguments of Store.Stat.
type StatParams struct {
	Pool  string
	Query Query
}

// Notifier receives a hint after every successful store write. It must not
// block and must not fail the caller: events are hints, the store is the
// truth. Package events implements it over NATS JetStream.
type Notifier interface {
	Notify(ctx context.Context, pool string, ev Event, n int)
}
