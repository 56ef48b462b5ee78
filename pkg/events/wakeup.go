package events

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Subscriber hands out wake-ups. *Conn implements it; code that only waits
// for events depends on this interface, code that only publishes on
// taskstate.Notifier.
type Subscriber interface {
	Wakeups(ctx context.Context, pool string, events ...taskstate.Event) (*Wakeup, error)
}

var _ Subscriber = (*Conn)(nil)

// Wakeup turns the events of one pool into coalesced wake-ups: a receive
// from C means "something changed, look at the store". It carries no count
// and no order; a burst of events gives one or two wake-ups, and a lost
// event gives none, so a Wakeup always goes with a fallback poll.
//
// Wake-ups are throttled by Config.Debounce on the leading edge: the first
// event signals at once (no added latency for a single event), events
// within Debounce of the last signal are folded into one more signal when
// the interval ends. The last event is therefore always followed by a
// signal within Debounce.
//
// After the connection comes back from an outage, the Wakeup signals C (an
// event may have been missed) and Reconnected.
//
// On a server of a NATS cluster, the Wakeup also signals C 2, 5, 50 and
// 250 ms after it subscribed (and after each reconnect): the other
// servers learn of a new subscription a moment later (1–3 ms on one
// host), and an event published on one of them meanwhile is not
// delivered. A caller that subscribes, then counts, recounts on those
// signals and so misses no change announced before the cluster knew of
// the subscription.
//
// Close stops it; so does the end of the context given to Conn.Wakeups. A
// Wakeup owns no goroutine of its own: deliveries run on the client's
// subscription goroutine, which ends on Close.
type Wakeup struct {
	c        *Conn
	debounce time.Duration
	ch       chan struct{} // capacity 1
	reconn   chan struct{} // capacity 1
	closedCh chan struct{}

	mu      sync.Mutex
	closed  bool
	subs    []*nats.Subscription
	stopCtx func() bool
	last    time.Time   // time of the last signal
	armed   bool        // a trailing signal is scheduled
	timer   *time.Timer // fires the trailing signal
	settles []*time.Timer
}

// clusterSettle are the delays after a subscription at which a Wakeup on
// a clustered server signals once more (see Wakeup): past the time the
// subscription takes to reach the cluster's other servers, measured at
// 1–3 ms here, with room for a network between hosts. The first at 2 ms
// keeps a waiter's rare miss under 5 ms (docs/BENCHMARKS.md, round 14).
var clusterSettle = [...]time.Duration{2 * time.Millisecond, 5 * time.Millisecond, 50 * time.Millisecond, 250 * time.Millisecond}

// Wakeups subscribes to the given events of pool (all four when none are
// given) and returns the Wakeup. When it returns, the subscription is live
// at the server (if the connection is up), so a caller can subscribe first
// and then count, and miss no change in between.
//
// Events are received with a core NATS subscription on
// "taskfleet.<pool>.<event>": messages published into the stream reach
// core subscribers too, at the lowest latency, and the client resubscribes
// by itself after a reconnect. A durable consumer would replay history a
// waiter does not need (it recounts from the store anyway).
//
// The Wakeup ends on Close or when ctx ends.
func (c *Conn) Wakeups(ctx context.Context, pool string, events ...taskstate.Event) (*Wakeup, error) {
	if err := taskstate.ValidatePool(pool); err != nil {
		return nil, fmt.Errorf("events: wakeups: %w", err)
	}
	if len(events) == 0 {
		events = Events
	}
	events = slices.Compact(slices.Sorted(slices.Values(events)))
	for _, ev := range events {
		if !validToken(string(ev)) {
			return nil, fmt.Errorf("%w: event %q is not a subject token", ErrInvalidConfig, ev)
		}
	}
	w := &Wakeup{
		c:        c,
		debounce: c.cfg.Debounce,
		ch:       make(chan struct{}, 1),
		reconn:   make(chan struct{}, 1),
		closedCh: make(chan struct{}),
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.wakeups[w] = struct{}{}
	c.mu.Unlock()

	nc := c.nc
	subs := make([]*nats.Subscription, 0, len(events))
	for _, ev := range events {
		received := c.m.received.WithLabelValues(pool, string(ev))
		sub, err := nc.Subscribe(Subject(pool, ev), func(*nats.Msg) {
			received.Inc()
			w.onEvent()
		})
		if err != nil {
			for _, s := range subs {
				_ = s.Unsubscribe()
			}
			_ = w.Close()
			return nil, &opError{op: "subscribe " + Subject(pool, ev), err: err, msg: c.describe(err)}
		}
		subs = append(subs, sub)
	}
	w.mu.Lock()
	if w.closed { // the Conn was closed meanwhile
		w.mu.Unlock()
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		return nil, ErrClosed
	}
	w.subs = subs
	w.stopCtx = context.AfterFunc(ctx, func() { _ = w.Close() })
	w.mu.Unlock()

	// One round trip: the server has the subscriptions before we return.
	// When disconnected they go live on reconnect, and the Wakeup signals.
	if err := c.flushSubscribed(ctx, pool); err != nil {
		_ = w.Close()
		return nil, &opError{op: "subscribe " + Subject(pool, events[0]), err: err, msg: err.Error()}
	}
	w.settle()
	return w, nil
}

// settle schedules the signals that cover the propagation of the
// Wakeup's subscriptions through a NATS cluster; on a lone server there is
// none to cover.
func (w *Wakeup) settle() {
	if w.c.nc.ConnectedClusterName() == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if w.settles == nil {
		for _, d := range clusterSettle {
			w.settles = append(w.settles, time.AfterFunc(d, w.signal))
		}
		return
	}
	for i, t := range w.settles {
		t.Reset(clusterSettle[i])
	}
}

// flushSubscribed makes one round trip, so the server has the
// subscriptions just made before the caller goes on. A flush that fails
// otherwise is only logged: disconnected, the subscriptions go live on
// reconnect. It returns ctx's error when ctx ended meanwhile.
func (c *Conn) flushSubscribed(ctx context.Context, pool string) error {
	if !c.nc.IsConnected() {
		return nil
	}
	fctx, cancel := context.WithTimeout(ctx, bgTimeout)
	defer cancel()
	if err := c.nc.FlushWithContext(fctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Debug("flush after subscribe failed", zap.String("pool", pool), zap.String("error", c.describe(err)))
	}
	return nil
}

// C returns the wake-up channel. It has capacity one: any number of events
// while a wake-up is pending leave one pending wake-up.
func (w *Wakeup) C() <-chan struct{} { return w.ch }

// Reconnected returns a channel that receives after the connection came
// back from an outage (capacity one, coalesced). C receives too; this
// channel is for callers that treat an outage specially.
func (w *Wakeup) Reconnected() <-chan struct{} { return w.reconn }

// Closed returns a channel that is closed once the Wakeup has stopped: by
// Close, by the end of its context or by the Conn's Close.
func (w *Wakeup) Closed() <-chan struct{} { return w.closedCh }

// Close unsubscribes and stops the Wakeup. It is idempotent and never fails.
func (w *Wakeup) Close() error {
	w.c.mu.Lock()
	delete(w.c.wakeups, w) // a no-op on a nil map, once the Conn closed
	w.c.mu.Unlock()
	w.stop()
	return nil
}

// stop unsubscribes and stops the timer.
func (w *Wakeup) stop() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
	}
	for _, t := range w.settles {
		t.Stop()
	}
	subs, stopCtx := w.subs, w.stopCtx
	close(w.closedCh)
	w.mu.Unlock()
	for _, s := range subs {
		_ = s.Unsubscribe()
	}
	if stopCtx != nil {
		stopCtx()
	}
}

// onEvent runs for every received event, on a subscription goroutine.
func (w *Wakeup) onEvent() {
	if w.debounce < 0 {
		w.signal()
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.armed {
		return // a trailing signal is already scheduled
	}
	now := time.Now()
	if wait := w.debounce - now.Sub(w.last); wait > 0 {
		w.armed = true
		if w.timer == nil {
			w.timer = time.AfterFunc(wait, w.onTimer)
		} else {
			w.timer.Reset(wait)
		}
		return
	}
	w.last = now
	w.signal()
}

// onTimer sends the trailing signal of a throttled burst.
func (w *Wakeup) onTimer() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || !w.armed {
		return
	}
	w.armed = false
	w.last = time.Now()
	w.signal()
}

func (w *Wakeup) onReconnect() {
	select {
	case w.reconn <- struct{}{}:
	default:
	}
	w.signal()
	w.settle()
}

// signal leaves one pending wake-up; it never blocks.
func (w *Wakeup) signal() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}
