package taskstate

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

var (
	errLeaseLost    = fmt.Errorf("%w: heartbeat found the lease gone", ErrLeaseLost)
	errLeaseExpired = fmt.Errorf("%w: heartbeats failed for longer than the lease", ErrLeaseLost)
)

// running is a task a Runner holds the lease of: from its claim until its
// result is committed, it is returned, or it is failed.
type running struct {
	task   *Task
	cancel context.CancelCauseFunc
}

// held is the set of tasks a Runner holds leases on. The claim loop adds
// to it, the completer and the failure paths remove from it, and the
// heartbeat renews and cancels what is in it.
type held struct {
	mu   sync.Mutex
	runs map[string]*running
}

func newHeld() *held { return &held{runs: make(map[string]*running)} }

func (h *held) add(run *running) {
	h.mu.Lock()
	h.runs[run.task.ID] = run
	h.mu.Unlock()
}

// remove forgets a task (committed, returned or failed) and ends its
// context.
func (h *held) remove(run *running) {
	run.cancel(nil)
	h.mu.Lock()
	delete(h.runs, run.task.ID)
	h.mu.Unlock()
}

func (h *held) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.runs)
}

func (h *held) refs() []LeaseRef {
	h.mu.Lock()
	defer h.mu.Unlock()
	refs := make([]LeaseRef, 0, len(h.runs))
	for _, run := range h.runs {
		refs = append(refs, run.task.Ref())
	}
	return refs
}

// cancel cancels the runs of ids with cause.
func (h *held) cancel(ids []string, cause error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		if run, ok := h.runs[id]; ok {
			run.cancel(cause)
		}
	}
}

// cancelAll cancels every run with cause and returns how many there were.
func (h *held) cancelAll(cause error) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, run := range h.runs {
		run.cancel(cause)
	}
	return len(h.runs)
}

// heartbeat renews every held lease in one write each Lease/3 and cancels
// the tasks whose lease is gone.
type heartbeat struct {
	m     *Manager
	held  *held
	lease time.Duration
	now   func() time.Time
	log   *zap.Logger
	// renewed is when the held leases were last known good (UnixNano, by
	// now): the last heartbeat that reached the store, or a moment when
	// none were held. While it is older than lease/2 the runner claims
	// nothing (it could not keep new leases either); once it is older than
	// lease, every lease it holds may have been reaped, so it gives them up.
	renewed atomic.Int64
	// worker, when set, is this runner's registry entry, renewed every
	// lease (every third beat: one small write; the entry lasts two
	// leases, see putWorker).
	worker *WorkerInfo
	// registered is when the entry was last written (by now).
	registered time.Time
}

// markRenewed records that the held leases are good as of now.
func (hb *heartbeat) markRenewed() { hb.renewed.Store(hb.now().UnixNano()) }

// sinceRenewed is the time since the held leases were last known good.
func (hb *heartbeat) sinceRenewed() time.Duration {
	return hb.now().Sub(time.Unix(0, hb.renewed.Load()))
}

// run beats until ctx is done.
func (hb *heartbeat) run(ctx context.Context) {
	tick := time.NewTicker(hb.lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		hb.beat(ctx)
	}
}

// beat renews the held leases once.
func (hb *heartbeat) beat(ctx context.Context) {
	// Both writes are bounded: across a network partition a pooled
	// connection can hang far longer than the lease, and a beat that never
	// returns would never give up the leases it can no longer keep. The
	// leases go first; the registry entry only tells who is alive.
	refs := hb.held.refs()
	beatCtx, cancel := context.WithTimeout(ctx, hb.lease/2)
	lost, err := hb.m.Heartbeat(beatCtx, refs, hb.lease)
	cancel()
	if hb.worker != nil && hb.now().Sub(hb.registered) >= hb.lease-hb.lease/6 {
		regCtx, cancel := context.WithTimeout(ctx, hb.lease/2)
		hb.register(regCtx)
		cancel()
	}
	if err != nil {
		if ctx.Err() == nil {
			hb.log.Warn("heartbeat failed", zap.Error(err), zap.Int("leases", len(refs)))
			hb.expireStale()
		}
		return
	}
	hb.markRenewed()
	hb.held.cancel(lost, errLeaseLost)
}

// stale reports whether the held leases have gone unrenewed for half a
// lease: the store is not taking heartbeats, so new claims could not be
// kept alive either. With no lease held there is nothing to keep.
func (hb *heartbeat) stale() bool {
	return hb.held.len() > 0 && hb.sinceRenewed() > hb.lease/2
}

// expireStale gives up every held task once its lease has gone a whole
// lease length without renewal: another worker's reaper may already have
// taken it back, so its result would be refused. The handlers are
// cancelled (the result is discarded, as for a lost lease) and the slots
// free up; when no lease is held any more, claiming resumes on the next
// wake-up or poll.
func (hb *heartbeat) expireStale() {
	if hb.sinceRenewed() <= hb.lease {
		return
	}
	if n := hb.held.cancelAll(errLeaseExpired); n > 0 {
		hb.log.Error("heartbeats failed for longer than the lease; cancelled the tasks held", zap.Int("tasks", n))
	}
}

// register renews the runner's registry entry, if it has one.
func (hb *heartbeat) register(ctx context.Context) {
	if hb.worker == nil {
		return
	}
	if err := hb.m.putWorker(ctx, *hb.worker, hb.lease); err != nil {
		if ctx.Err() == nil {
			hb.log.Warn("worker registry entry not renewed", zap.Error(err))
		}
		return
	}
	hb.registered = hb.now()
}
