package events

import (
	"github.com/nats-io/nats.go"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// The history event of a change that wakes workers (created, available)
// is published by a goroutine of the Conn while the notifying caller
// waits for it: the caller hands the event over, publishes the wake-ups,
// and then blocks until the event is in the client's buffer. The client's
// flusher, readied by the wake-ups, runs first when the caller blocks, so
// the wake-ups leave before the JetStream publish's work (its ack's
// bookkeeping, a reply subject, headers: about 20 µs) instead of after it.
// On the pickup bench that took a worker's pickup of a created task from
// a median 34-68 µs above the baseline of the performance issues to 14-48
// µs below it. The Notify itself returns about 20 µs later, after the
// flusher's write, and about 200 µs later when its process also runs the
// worker that claims the task: the history goroutine then gets a CPU after
// the claim (docs/BENCHMARKS.md, round 12). The caller returns only once its event
// was published, as before: a version that let the caller go on at once
// published some history events hundreds of µs later, after a waiter had
// subscribed, which cost the waiter a recount and a debounced wake-up
// (`wait` p50 2.6 ms against 0.15). Other events are published on the
// caller.

// historyItem is a history event handed to the history goroutine.
type historyItem struct {
	r    *route
	msg  *nats.Msg
	done chan struct{} // closed once the event was published (or failed)
}

// publishWithWakeups publishes msg, the history event of c, and c's
// wake-ups, as described above.
func (p *Publisher) publishWithWakeups(r *route, msg *nats.Msg, c taskstate.Change) {
	h := historyItem{r: r, msg: msg, done: make(chan struct{})}
	queued := false
	if p.c.ctx.Err() == nil { // after Close the goroutine has ended
		select {
		case p.c.history <- h:
			queued = true
		default: // the goroutine is far behind
		}
	}
	if !queued {
		p.publishHistory(r, msg)
		p.publishWork(r, c)
		return
	}
	p.publishWork(r, c)
	select {
	case <-h.done:
	case <-p.c.historyDone:
		// The goroutine closes done before it ends: an event it did not
		// publish is still queued, and is published here.
		select {
		case <-h.done:
		default:
			p.publishHistory(r, msg)
		}
	}
}

// historyLoop publishes the history events handed to it until the Conn
// closes, then those still queued, and closes historyDone.
func (c *Conn) historyLoop() {
	defer close(c.historyDone)
	publish := func(h historyItem) {
		c.pub.publishHistory(h.r, h.msg)
		close(h.done)
	}
	for {
		select {
		case h := <-c.history:
			publish(h)
		case <-c.ctx.Done():
			for {
				select {
				case h := <-c.history:
					publish(h)
				default:
					return
				}
			}
		}
	}
}

// publishHistory publishes one history event with JetStream (PublishAsync)
// unless the window of unacknowledged publishes is full: it is dropped
// then, so that a storm cannot stall the caller. The stall wait bounds the
// race between the check and the publish.
func (p *Publisher) publishHistory(r *route, msg *nats.Msg) {
	js := p.c.js
	if js.PublishAsyncPending() >= p.c.cfg.MaxPending {
		p.fail(r, errWindowFull)
		return
	}
	if _, err := js.PublishMsgAsync(msg, stallOpt); err != nil {
		p.fail(r, err)
	}
}
