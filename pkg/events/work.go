package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Timing of a WorkWakeup.
const (
	// workPull is how long one pull request waits at the server.
	workPull = 30 * time.Second
	// workHandoff is how long a wake-up waits for its worker to take it
	// before it is offered to another: an idle worker takes it at once.
	workHandoff = 10 * time.Millisecond
	// workRetryFloor and workRetryCeil bound the pause after a failed pull.
	workRetryFloor = 50 * time.Millisecond
	workRetryCeil  = 5 * time.Second
)

// workEvent labels the work-queue wake-ups in
// taskfleet_events_received_total.
const workEvent = "work"

// publishWork puts min(n, Config.WorkFanout) wake-ups on the work queue of
// r's pool, for created and available events. Like Notify it never blocks:
// when the publish window is full the rest are dropped (the poll covers
// them).
func (p *Publisher) publishWork(r *route, n int) {
	if r.work == "" || n <= 0 {
		return
	}
	js := p.c.js
	body := appendPayload(make([]byte, 0, 48), 1, time.Now().UnixNano())
	for range min(n, p.c.cfg.WorkFanout) {
		if js.PublishAsyncPending() >= p.c.cfg.MaxPending {
			return
		}
		if _, err := js.PublishAsync(r.work, body, stallOpt); err != nil {
			return
		}
	}
}

// WorkWakeup hands the wake-ups of a pool's work queue to one worker: each
// `created` or `available` wake-up on the queue goes to ONE worker that is
// waiting with a free slot, not to all of them. A receive from C means
// "claim now"; the WorkWakeup acknowledges the wake-up when C is received
// from, whatever the claim finds.
//
// The worker receives from C only while it has a free slot. A wake-up that
// is not taken within 10 ms (the worker filled up, or it is backing off
// after empty wake-ups) goes back to the queue for another worker (at most
// four times, then it is dropped: the poll covers it), and this worker
// pulls again only after it next takes from C. After a failed pull (a lost
// connection, a restarted server) C gets one wake-up once the queue answers
// again, for what may have been missed.
//
// Like every event, a wake-up is a hint: a lost one costs a poll interval,
// a spare one an empty claim.
type WorkWakeup struct {
	c        *Conn
	pool     string
	ch       chan struct{} // unbuffered: handed over only to a worker that asks
	received prometheus.Counter
	cancel   context.CancelFunc
	done     chan struct{}
	kick     chan struct{} // capacity 1: the connection came back, pull afresh

	mu         sync.Mutex
	cancelPull context.CancelFunc // ends the pull in flight
}

// WorkWakeups starts pulling the work queue of pool and returns the
// WorkWakeup. It ends on Close, on the end of ctx or on the Conn's Close.
func (c *Conn) WorkWakeups(ctx context.Context, pool string) (*WorkWakeup, error) {
	if err := taskstate.ValidatePool(pool); err != nil {
		return nil, fmt.Errorf("events: work wakeups: %w", err)
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	w := &WorkWakeup{
		c: c, pool: pool, ch: make(chan struct{}),
		received: c.m.received.WithLabelValues(pool, workEvent),
		done:     make(chan struct{}),
		kick:     make(chan struct{}, 1),
	}
	c.mu.Lock()
	c.works[w] = struct{}{}
	c.mu.Unlock()
	w.cancel = func() {
		c.mu.Lock()
		delete(c.works, w)
		c.mu.Unlock()
		stop()
		cancel()
	}
	go w.run(wctx)
	return w, nil
}

// kickWorks tells every WorkWakeup that the connection came back and the
// streams were ensured: a pull in flight went to the old server, and a
// restarted server has lost the consumer, so each pulls afresh at once.
func (c *Conn) kickWorks() {
	c.mu.Lock()
	ws := make([]*WorkWakeup, 0, len(c.works))
	for w := range c.works {
		ws = append(ws, w)
	}
	c.mu.Unlock()
	for _, w := range ws {
		select {
		case w.kick <- struct{}{}:
		default:
		}
		w.mu.Lock()
		if w.cancelPull != nil {
			w.cancelPull()
		}
		w.mu.Unlock()
	}
}

// C returns the wake-up channel.
func (w *WorkWakeup) C() <-chan struct{} { return w.ch }

// Close stops pulling and waits for the puller to end. It is idempotent.
func (w *WorkWakeup) Close() error {
	w.cancel()
	<-w.done
	return nil
}

func (w *WorkWakeup) run(ctx context.Context) {
	defer close(w.done)
	var cons jetstream.Consumer
	retry := workRetryFloor
	failed := false
	for ctx.Err() == nil {
		var err error
		if cons == nil {
			cons, err = w.c.js.CreateOrUpdateConsumer(ctx, WorkStreamName, workConsumerConfig(w.pool))
			if err == nil && failed { // the queue answers again: look once for what was missed
				failed = false
				w.give(ctx)
			}
		}
		var msg jetstream.Msg
		if err == nil {
			msg, err = w.pull(ctx, cons)
		}
		switch {
		case ctx.Err() != nil:
			if msg != nil {
				_ = msg.Nak()
			}
			return
		case err == nil:
			retry = workRetryFloor
			w.offer(ctx, msg)
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, jetstream.ErrNoMessages):
			// The pull expired with nothing: pull again.
		default:
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				w.c.requestEnsure()
			}
			w.c.log.Debug("work queue pull failed; retrying", zap.String("pool", w.pool), zap.String("error", w.c.describe(err)))
			cons, failed = nil, true
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-w.kick:
				retry = workRetryFloor
			case <-t.C:
				retry = min(2*retry, workRetryCeil)
			}
			t.Stop()
		}
	}
}

// pull waits up to workPull for one wake-up. A kick ends it early with
// errKicked.
func (w *WorkWakeup) pull(ctx context.Context, cons jetstream.Consumer) (jetstream.Msg, error) {
	pctx, cancel := context.WithTimeout(ctx, workPull)
	defer cancel()
	kicked, kick := context.WithCancelCause(pctx)
	defer kick(nil)
	w.mu.Lock()
	w.cancelPull = func() { kick(errKicked) }
	w.mu.Unlock()
	msg, err := cons.Next(jetstream.FetchContext(kicked))
	w.mu.Lock()
	w.cancelPull = nil
	w.mu.Unlock()
	if err != nil && errors.Is(context.Cause(kicked), errKicked) {
		return nil, errKicked
	}
	return msg, err
}

var errKicked = errors.New("connection came back: pulling afresh")

// offer hands msg's wake-up to this worker if it takes it within
// workHandoff, and acks it; otherwise it returns the wake-up to the queue
// for another worker and waits until this one asks again.
func (w *WorkWakeup) offer(ctx context.Context, msg jetstream.Msg) {
	t := time.NewTimer(workHandoff)
	defer t.Stop()
	select {
	case w.ch <- struct{}{}:
		w.received.Inc()
		_ = msg.Ack()
		return
	case <-ctx.Done():
		_ = msg.Nak()
		return
	case <-t.C:
	}
	if md, err := msg.Metadata(); err == nil && md.NumDelivered >= workMaxDeliver {
		_ = msg.Term()
	} else {
		_ = msg.Nak()
	}
	w.give(ctx)
}

// give blocks until the worker takes a wake-up or ctx ends.
func (w *WorkWakeup) give(ctx context.Context) {
	select {
	case w.ch <- struct{}{}:
	case <-ctx.Done():
	}
}
