package taskstate

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// result is a finished run on its way to the completer. The task stays
// held (and so keeps its lease renewed) until the completer has committed
// it; its slot is free as soon as the handler returned.
type result struct {
	run *running
	// res is the handler's result when enc is nil (it did not encode, and
	// CommitMany fails the task with the encoding error).
	res any
	// enc is res encoded by the handler's goroutine.
	enc []byte
}

// completer commits results in batches (River's batch completer): it takes
// what is queued, commits it in one round trip, acknowledges, repeats.
type completer struct {
	m     *Manager
	to    Status
	batch int
	held  *held
	met   RunnerMetrics
	log   *zap.Logger
	// queue carries the results to commit; the runner closes it once no
	// handler is left, and run returns when it has committed what was
	// queued.
	queue chan result
	// queued counts the results queued or being committed.
	queued atomic.Int64
	// refill, when set (the store is a FinishClaimer), gives the claim to
	// make with a commit (ok false: none); start takes what it claimed.
	// The runner's (Runner.refill).
	refill func() (opts ClaimOptions, ok bool, start func([]*Task))
	// woke is signalled after each commit: the claim loop then claims the
	// slots no commit claimed.
	woke chan<- struct{}
	// While gathers reports true (other writers on the store, or one
	// CPU: see RunnerConfig.CommitLinger), a batch waits up to linger for
	// the results still to come: expected counts the results the runner's
	// tasks have given or will give (tasks started, less those that ended
	// without one), received those run has taken.
	linger   time.Duration
	gathers  func() bool
	expected func() int64
	received int64
}

// write commits items in one round trip, with the runner's claim for the
// free slots when refill gives one.
func (c *completer) write(ctx context.Context, items []CommitItem) []error {
	opts, ok, start := c.claim()
	if !ok {
		return c.m.CommitMany(ctx, items)
	}
	var claimed []*Task
	defer func() { start(claimed) }() // it lets the runner's claim mutex go
	errs, claimed, err := c.m.CommitManyAndClaim(ctx, items, opts)
	if err != nil {
		c.log.Warn("claim failed", zap.Error(err))
	}
	return errs
}

// claim returns refill's claim, or none without it.
func (c *completer) claim() (ClaimOptions, bool, func([]*Task)) {
	if c.refill == nil {
		return ClaimOptions{}, false, nil
	}
	return c.refill()
}

// run commits until queue is closed and empty.
func (c *completer) run(ctx context.Context) {
	batch := make([]result, 0, c.batch)
	for first := range c.queue {
		batch = append(batch[:0], first)
	more:
		for len(batch) < c.batch {
			select {
			case next, ok := <-c.queue:
				if !ok {
					break more
				}
				batch = append(batch, next)
			default:
				break more
			}
		}
		c.received += int64(len(batch))
		batch = c.gather(batch)
		c.commit(ctx, batch)
	}
}

// gather adds to batch the results of the tasks still running that end
// within the linger, when gathers says so.
func (c *completer) gather(batch []result) []result {
	if c.linger <= 0 || len(batch) >= c.batch || c.expected() <= c.received || !c.gathers() {
		return batch
	}
	timer := time.NewTimer(c.linger)
	defer timer.Stop()
	for len(batch) < c.batch && c.expected() > c.received {
		select {
		case next, ok := <-c.queue:
			if !ok {
				return batch
			}
			batch = append(batch, next)
			c.received++
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// commit commits one batch in one round trip and forgets its tasks.
func (c *completer) commit(ctx context.Context, batch []result) {
	items := make([]CommitItem, len(batch))
	for i, b := range batch {
		items[i] = CommitItem{Task: b.run.task, Res: b.res, EncodedRes: b.enc, To: c.to}
	}
	errs := c.write(ctx, items)
	// With refill, the claim loop waits while results are queued (the
	// completer claims their slots with them); it may claim again now.
	c.queued.Add(-int64(len(batch)))
	if c.woke != nil {
		select {
		case c.woke <- struct{}{}:
		default:
		}
	}
	committed := 0
	for i, err := range errs {
		id := batch[i].run.task.ID
		switch {
		case err == nil:
			committed++
		case errors.Is(err, ErrLeaseLost):
			c.met.LeaseLost(1)
			c.log.Warn("commit refused: lease lost; result discarded", zap.String("task", id))
		case errors.As(err, new(*resultFailedError)) || errors.Is(err, ErrInvalidStatus):
			c.met.Failed(1)
			c.log.Warn("result rejected; task failed", zap.String("task", id), zap.Error(err))
		default:
			c.log.Warn("commit failed; the lease will expire and the task will be retried", zap.String("task", id), zap.Error(err))
		}
		c.held.remove(batch[i].run)
	}
	c.met.Committed(committed)
}
