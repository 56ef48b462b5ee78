package taskstate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// CancelledPrefix starts the last_error of every task Cancel ended. Only
// Cancel writes it: Fail, the one path that stores a handler's message as
// it is, puts "failed: " before a message that would start with it, so the
// prefix marks cancelled tasks and nothing else.
const CancelledPrefix = "cancelled: "

// IsCancelled reports whether t was ended by Cancel (and is still failed).
func (t *Task) IsCancelled() bool {
	return t.Status == StatusFailed && strings.HasPrefix(t.LastError, CancelledPrefix)
}

// OpsStore is the part of Store that keeps a pool's admin state (paused or
// not) and the registry of its live workers, beside its tasks.
type OpsStore interface {
	// SetPaused pauses or resumes the pool. Store.Claim of a paused pool
	// claims nothing; running tasks are left alone.
	SetPaused(ctx context.Context, p SetPausedParams) error

	// PoolState returns the pool's admin state; a pool never paused has
	// the zero PoolState.
	PoolState(ctx context.Context, pool string) (PoolState, error)

	// PutWorker inserts or replaces a worker's registry entry (its id is
	// the key within the pool).
	PutWorker(ctx context.Context, p PutWorkerParams) error

	// RemoveWorker deletes a worker's entry; an unknown id is not an error.
	RemoveWorker(ctx context.Context, p RemoveWorkerParams) error

	// ListWorkers returns the workers whose entry has not expired by Now,
	// sorted by id.
	ListWorkers(ctx context.Context, p ListWorkersParams) ([]WorkerInfo, error)
}

// PoolState is a pool's admin state.
type PoolState struct {
	Paused   bool      `json:"paused"`
	Reason   string    `json:"reason,omitempty"`
	PausedAt time.Time `json:"paused_at,omitzero"`
}

// SetPausedParams are the arguments of OpsStore.SetPaused.
type SetPausedParams struct {
	Pool   string
	Paused bool
	Reason string // kept while paused
	Now    time.Time
}

// WorkerInfo is one worker's entry in the registry: who it is, what it
// runs, and until when it counts as live (its last heartbeat plus a lease).
type WorkerInfo struct {
	ID          string    `json:"id"` // the owner name in its leases
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	Kinds       []string  `json:"kinds"`
	Concurrency int       `json:"concurrency"`
	From        Status    `json:"from"` // the status it claims from
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	SeenAt      time.Time `json:"seen_at"`    // its last heartbeat
	ExpiresAt   time.Time `json:"expires_at"` // SeenAt + two of its leases
}

// Serves reports whether w runs tasks of kind.
func (w WorkerInfo) Serves(kind string) bool {
	for _, k := range w.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// PutWorkerParams are the arguments of OpsStore.PutWorker.
type PutWorkerParams struct {
	Pool   string
	Worker WorkerInfo
}

// RemoveWorkerParams are the arguments of OpsStore.RemoveWorker.
type RemoveWorkerParams struct {
	Pool string
	ID   string
}

// ListWorkersParams are the arguments of OpsStore.ListWorkers.
type ListWorkersParams struct {
	Pool string
	Now  time.Time
}

// CancelParams are the arguments of Manager.Cancel.
type CancelParams struct {
	// Query selects the tasks; only the waiting, running and part_done
	// ones among them are cancelled. Required: an empty query is refused
	// with ErrEmptyQuery.
	Query Query
	// Reason is recorded as last_error "cancelled: REASON". Default
	// "no reason given".
	Reason string
}

// Cancel ends the unfinished tasks matching p.Query: each goes to failed
// with last_error CancelledPrefix+Reason. A running task's lease is
// revoked in the same write, so its worker's next heartbeat finds the
// lease gone and cancels the handler, and its late result is fenced off.
// It returns how many tasks were cancelled. RetryFailed leaves cancelled
// tasks alone unless asked.
func (m *Manager) Cancel(ctx context.Context, p CancelParams) (int64, error) {
	if p.Query.IsEmpty() {
		return 0, fmt.Errorf("%w: cancel needs task ids or a filter", ErrEmptyQuery)
	}
	reason := strings.TrimSpace(p.Reason)
	if reason == "" {
		reason = "no reason given"
	}
	msg := CancelledPrefix + reason
	q := p.Query.Where(FieldStatus, OpIn, []any{string(StatusWaiting), string(StatusRunning), string(StatusPartDone)})
	n, err := m.update(ctx, "cancel", UpdateParams{Query: q, Status: StatusFailed, LastError: &msg})
	if err == nil {
		m.notify(ctx, EventFailed, int(n))
	}
	return n, err
}

// RetryOptions modify RetryFailedWith.
type RetryOptions struct {
	// IncludeCancelled retries cancelled tasks too. Default: they stay
	// failed.
	IncludeCancelled bool
}

// RetryFailedWith moves failed tasks matching q back to waiting with a
// fresh attempt budget; cancelled ones only with IncludeCancelled.
func (m *Manager) RetryFailedWith(ctx context.Context, q Query, opts RetryOptions) (int64, error) {
	q = q.Where(FieldStatus, OpEq, string(StatusFailed))
	return m.update(ctx, "retry_failed", UpdateParams{Query: q, Status: StatusWaiting, ResetAttempts: true, KeepCancelled: !opts.IncludeCancelled})
}

// Pause stops claims from the pool: workers claim nothing until Resume;
// the tasks they run finish as usual. reason is shown by stat.
func (m *Manager) Pause(ctx context.Context, reason string) error {
	return m.setPaused(ctx, true, reason)
}

// Resume lets workers claim from the pool again.
func (m *Manager) Resume(ctx context.Context) error {
	return m.setPaused(ctx, false, "")
}

func (m *Manager) setPaused(ctx context.Context, paused bool, reason string) error {
	start := time.Now()
	err := m.store.SetPaused(ctx, SetPausedParams{Pool: m.pool, Paused: paused, Reason: reason, Now: m.cfg.Now()})
	m.observe("set_paused", start, err)
	if err != nil {
		return err
	}
	if !paused {
		m.notifyResumed(ctx)
	}
	m.log.Info("pool paused", zap.String("pool", m.pool), zap.Bool("paused", paused))
	return nil
}

// PoolState returns the pool's admin state (paused or not). It is the
// pause query of the console and of stat.
func (m *Manager) PoolState(ctx context.Context) (PoolState, error) {
	start := time.Now()
	st, err := m.store.PoolState(ctx, m.pool)
	m.observe("pool_state", start, err)
	return st, err
}

// Workers returns the live workers of the pool: those whose last
// heartbeat is less than their lease ago.
func (m *Manager) Workers(ctx context.Context) ([]WorkerInfo, error) {
	start := time.Now()
	ws, err := m.store.ListWorkers(ctx, ListWorkersParams{Pool: m.pool, Now: m.cfg.Now()})
	m.observe("list_workers", start, err)
	return ws, err
}

// putWorker records w as live for lease from now.
func (m *Manager) putWorker(ctx context.Context, w WorkerInfo, lease time.Duration) error {
	now := m.cfg.Now()
	// Renewed every lease: two leases keep a live worker listed through a
	// late renewal.
	w.SeenAt, w.ExpiresAt = now, now.Add(2*lease)
	start := time.Now()
	err := m.store.PutWorker(ctx, PutWorkerParams{Pool: m.pool, Worker: w})
	m.observe("put_worker", start, err)
	return err
}

func (m *Manager) removeWorker(ctx context.Context, id string) error {
	start := time.Now()
	err := m.store.RemoveWorker(ctx, RemoveWorkerParams{Pool: m.pool, ID: id})
	m.observe("remove_worker", start, err)
	return err
}

// Unserved returns the kinds of kinds that no live worker of the pool
// serves, in their order, without repeats.
func (m *Manager) Unserved(ctx context.Context, kinds []string) ([]string, error) {
	ws, err := m.Workers(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, k := range kinds {
		if seen[k] {
			continue
		}
		seen[k] = true
		served := false
		for _, w := range ws {
			if w.Serves(k) {
				served = true
				break
			}
		}
		if !served {
			out = append(out, k)
		}
	}
	return out, nil
}

// cancelMarkGuard keeps a failure's message from passing for a
// cancellation (see CancelledPrefix).
func cancelMarkGuard(msg string) string {
	if strings.HasPrefix(msg, CancelledPrefix) {
		return "failed: " + msg
	}
	return msg
}
