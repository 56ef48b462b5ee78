package events

import (
	"errors"

	"github.com/nats-io/nats.go"
)

// A history event is published by a goroutine of the Conn, not on the
// notifying caller's: the caller queues it and publishes the wake-ups,
// which leaves the client's flusher to run as soon as the caller blocks
// (a Create returning to its caller, say). A JetStream publish on the
// caller (its ack's bookkeeping, a reply subject, headers) put about 20
// µs of work between a created task's commit and its wake-up; a worker's
// pickup of it was a median 35 µs slower (docs/BENCHMARKS.md, round 12).
// The history of a pool keeps its order: one goroutine publishes it.

// historyItem is a history event waiting for the history goroutine.
type historyItem struct {
	r   *route
	msg *nats.Msg
}

var (
	errHistoryFull = errors.New("history queue full (Config.MaxPending events waiting); event dropped")
	errClosedConn  = errors.New("connection closed; event dropped")
)

// queueHistory hands msg to the history goroutine, or drops it (counted
// as failed) when MaxPending events are waiting or the Conn is closed.
func (p *Publisher) queueHistory(r *route, msg *nats.Msg) {
	if p.c.ctx.Err() != nil {
		p.fail(r, errClosedConn)
		return
	}
	select {
	case p.c.history <- historyItem{r, msg}:
	default:
		p.fail(r, errHistoryFull)
	}
}

// historyLoop publishes the queued history events until the Conn closes,
// then what is still queued, and closes historyDone. Events queued after
// that are lost (a Notify racing Close); every later one is counted as
// failed.
func (c *Conn) historyLoop() {
	defer close(c.historyDone)
	for {
		select {
		case h := <-c.history:
			c.pub.publishHistory(h)
		case <-c.ctx.Done():
			for {
				select {
				case h := <-c.history:
					c.pub.publishHistory(h)
				default:
					return
				}
			}
		}
	}
}

// publishHistory publishes one history event with JetStream, unless the
// window of unacknowledged publishes is full: it is dropped then, so that
// a storm cannot stall the queue.
func (p *Publisher) publishHistory(h historyItem) {
	js := p.c.js
	if js.PublishAsyncPending() >= p.c.cfg.MaxPending {
		p.fail(h.r, errWindowFull)
		return
	}
	if _, err := js.PublishMsgAsync(h.msg, stallOpt); err != nil {
		p.fail(h.r, err)
	}
}
