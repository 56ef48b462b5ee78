package taskstate

import "time"

// wakeGate backs a runner off wake-ups that find nothing, so a flood of
// events (junk, or more workers than tasks) costs each worker a bounded
// claim rate: after k wake-up claims in a row that found nothing, wake-ups
// are ignored for min(2^(k-1) ms, max). Any claim that finds a task resets
// it. The poll is never gated, so a real task is still picked up within
// the poll interval during a flood.
type wakeGate struct {
	max    time.Duration
	misses int
	closed bool
	timer  *time.Timer
}

func newWakeGate(maxWait time.Duration) *wakeGate {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &wakeGate{max: maxWait, timer: t}
}

// result records what a claim found; woken tells whether a wake-up (not
// the poll) asked for it.
func (g *wakeGate) result(woken, found bool) {
	switch {
	case found:
		g.misses = 0
	case woken:
		g.misses++
		g.closed = true
		g.timer.Reset(min(time.Millisecond<<min(g.misses-1, 20), g.max))
	}
}

// of returns ch while the gate is open, else nil (a select ignores it).
func (g *wakeGate) of(ch <-chan struct{}) <-chan struct{} {
	if g.closed {
		return nil
	}
	return ch
}

// trusted reports whether a wake-up is likely to name real work: the
// last wake-up claim found some. A trusted wake-up's claim skips the
// store's read probe (ClaimParams.Woken); after a miss the probe is back,
// so a flood costs one write claim, then reads, until a claim finds work.
func (g *wakeGate) trusted() bool { return g.misses == 0 }

// reopened fires when the back-off ends; call open then.
func (g *wakeGate) reopened() <-chan time.Time { return g.timer.C }

func (g *wakeGate) open() { g.closed = false }

func (g *wakeGate) stop() { g.timer.Stop() }
