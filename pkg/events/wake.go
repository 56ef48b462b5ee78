package events

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// The fast path of work wake-ups. A wake-up is first published as a core
// NATS message on "taskfleet-wake.<pool>.<kind>", where every WorkWakeup of
// the kind is a member of one queue group: the server hands it to one
// member straight from its read loop, at core latency, where the work
// queue's stream would store it and deliver it through its consumer first.
// The work queue keeps what the fast path cannot do: a member that cannot
// take the wake-up at once (its worker is busy) puts it on the work queue
// for a worker with a free slot, and when no member is subscribed the
// server answers "no responders" and the Publisher puts it there itself.
// Either way each wake-up reaches one worker.
const (
	// WakeSubjectPrefix is the first token of the core wake subjects. No
	// stream captures it.
	WakeSubjectPrefix = "taskfleet-wake"
	// wakeQueue is the queue group of a wake subject's members.
	wakeQueue = "workers"
	// wakeHandoff is how long a member waits for its worker to take a
	// wake-up before it passes it to the work queue: an idle worker takes
	// it at once.
	wakeHandoff = 2 * time.Millisecond
	// wakePendingMsgs and wakePendingBytes bound what the client holds for
	// a fast-path subscription whose handler is behind (its worker busy,
	// each wake-up waiting wakeHandoff): anyone who may publish on the
	// subject could otherwise fill nats.go's default 64 MiB per kind with
	// junk. A wake-up past the bound is dropped; the poll covers it.
	wakePendingMsgs  = 1024
	wakePendingBytes = 256 << 10
)

// wakeSubject returns the core wake subject of the work queue subject ws
// ("taskfleet-work.<pool>.<token>" → "taskfleet-wake.<pool>.<token>").
func wakeSubject(ws string) string {
	return WakeSubjectPrefix + strings.TrimPrefix(ws, WorkSubjectPrefix)
}

// workOf is the inverse of wakeSubject; ok is false for any other subject.
func workOf(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, WakeSubjectPrefix+".")
	if !ok {
		return "", false
	}
	return WorkSubjectPrefix + "." + rest, true
}

// startWake subscribes the Publisher to the "no responders" answers of its
// fast-path wake-ups.
func (p *Publisher) startWake() error {
	p.noWaker = p.c.nc.NewInbox()
	_, err := p.c.nc.Subscribe(p.noWaker, p.onNoWaker)
	return err
}

// wake publishes one wake-up on the fast path of work subject ws.
func (p *Publisher) wake(ws string, body []byte) error {
	return p.c.nc.PublishMsg(&nats.Msg{Subject: wakeSubject(ws), Reply: p.noWaker, Data: body})
}

// onNoWaker runs when the server found no member for a wake-up: it goes to
// the work queue, where the next worker to pull takes it.
func (p *Publisher) onNoWaker(msg *nats.Msg) {
	if msg.Header.Get("Status") != "503" {
		return
	}
	if ws, ok := workOf(msg.Header.Get("Nats-Subject")); ok {
		p.queueWork(ws, msg.Data)
	}
}

// queueWork puts one wake-up on the work queue subject ws unless the
// publish window is full (the poll covers it).
func (p *Publisher) queueWork(ws string, body []byte) {
	js := p.c.js
	if js.PublishAsyncPending() >= p.c.cfg.MaxPending {
		return
	}
	if len(body) == 0 {
		body = appendPayload(make([]byte, 0, 48), 1, time.Now().UnixNano())
	}
	_, _ = js.PublishAsync(ws, body, stallOpt)
}

// joinWake makes w a member of the fast path of work subject ws: a
// wake-up its worker takes within wakeHandoff is handed over, any other
// goes to the work queue.
func (w *WorkWakeup) joinWake(ws string) (*nats.Subscription, error) {
	sub, err := w.c.nc.QueueSubscribe(wakeSubject(ws), wakeQueue, func(msg *nats.Msg) {
		if !w.hand(wakeHandoff, w.closing) {
			w.c.pub.queueWork(ws, msg.Data)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(wakePendingMsgs, wakePendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return sub, nil
}
