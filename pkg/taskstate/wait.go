package taskstate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// ErrWaitTimeout is returned by Wait when its timeout passes with tasks
// still undone; the WaitResult names them.
var ErrWaitTimeout = errors.New("taskstate: wait timed out")

// WaitOptions configure Wait.
type WaitOptions struct {
	// Query restricts the tasks waited for. Default: the whole pool.
	Query Query
	// Terminal is the set of statuses that count as finished. Default done
	// and failed; part_done counts as undone, as in Qlib.
	Terminal []Status
	// Wakeups, when set, delivers event hints (tasks committed or failed);
	// each triggers a recount. Without it Wait polls.
	Wakeups <-chan struct{}
	// Fallback is the recount interval when no event arrives. Default 1 s
	// with Wakeups, 200 ms without.
	Fallback time.Duration
	// Timeout bounds the wait; 0 waits until ctx is done.
	Timeout time.Duration
	// Progress, when set, is called after every recount that changed the
	// counts (and once at the start).
	Progress func(Counts)
	// StuckLimit caps the stuck tasks listed on timeout. Default 20.
	StuckLimit int
}

// WaitResult is what Wait saw last.
type WaitResult struct {
	Counts  Counts
	Elapsed time.Duration
	// Stuck lists undone tasks (status, owner, lease expiry) when the wait
	// timed out.
	Stuck []*Task
}

// Wait blocks until every task matching the query is in a terminal status
// (Qlib's wait, event-driven): it counts with an aggregation, then recounts
// on each wake-up and on a fallback timer. A count is the truth; events only
// make it sooner. On timeout it returns ErrWaitTimeout with the stuck tasks.
func (m *Manager) Wait(ctx context.Context, opts WaitOptions) (WaitResult, error) {
	start := time.Now()
	if len(opts.Terminal) == 0 {
		opts.Terminal = []Status{StatusDone, StatusFailed}
	}
	for _, s := range opts.Terminal {
		if !s.Valid() {
			return WaitResult{}, fmt.Errorf("%w: terminal status %q", ErrInvalidStatus, s)
		}
	}
	if opts.Fallback <= 0 {
		opts.Fallback = time.Second
		if opts.Wakeups == nil {
			opts.Fallback = 200 * time.Millisecond
		}
	}
	if opts.StuckLimit <= 0 {
		opts.StuckLimit = 20
	}
	var timeout <-chan time.Time
	if opts.Timeout > 0 {
		t := time.NewTimer(opts.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	undone := func(c Counts) int {
		n := 0
		for s, v := range c {
			if !slices.Contains(opts.Terminal, s) {
				n += v
			}
		}
		return n
	}
	tick := time.NewTicker(opts.Fallback)
	defer tick.Stop()
	var last Counts
	// A wake-up recounts incrementally (waitCounter); the start, the
	// fallback timer and the answer are full counts.
	wc := &waitCounter{m: m, q: opts.Query, terminal: opts.Terminal}
	full := true
	for {
		count := wc.recount
		if full {
			count = wc.full
		}
		c, err := count(ctx)
		if err != nil {
			return WaitResult{Counts: last, Elapsed: time.Since(start)}, err
		}
		if opts.Progress != nil && !maps.Equal(c, last) {
			opts.Progress(c)
		}
		last = c
		if undone(c) == 0 {
			if !wc.wasFull {
				full = true
				continue
			}
			return WaitResult{Counts: c, Elapsed: time.Since(start)}, nil
		}
		full = false
		select {
		case <-ctx.Done():
			return WaitResult{Counts: last, Elapsed: time.Since(start)}, ctx.Err()
		case <-timeout:
			res := WaitResult{Counts: last, Elapsed: time.Since(start)}
			res.Stuck = m.stuck(context.WithoutCancel(ctx), opts)
			return res, fmt.Errorf("%w after %s: %d of %d tasks undone", ErrWaitTimeout, opts.Timeout, undone(last), last.Total())
		case <-opts.Wakeups:
		case <-tick.C:
			full = true
		}
	}
}

func (m *Manager) stuck(ctx context.Context, opts WaitOptions) []*Task {
	var undoneStatuses []any
	for _, s := range Statuses {
		if !slices.Contains(opts.Terminal, s) {
			undoneStatuses = append(undoneStatuses, string(s))
		}
	}
	q := opts.Query.Where(FieldStatus, OpIn, undoneStatuses)
	var out []*Task
	for t, err := range m.Query(ctx, q, QueryOptions{Limit: opts.StuckLimit}) {
		if err != nil {
			break
		}
		out = append(out, t)
	}
	// Running ones first: they are the likeliest to be stuck.
	slices.SortStableFunc(out, func(a, b *Task) int {
		ar, br := a.Status == StatusRunning, b.Status == StatusRunning
		switch {
		case ar && !br:
			return -1
		case br && !ar:
			return 1
		}
		return 0
	})
	return out
}
