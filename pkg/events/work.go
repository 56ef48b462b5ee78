package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// publishWork puts the wake-ups of change c of r's pool on its work
// queues, for created and available events: min(n, Config.WorkFanout) on
// the queue of each kind that has n tasks, or on the any-kind queue when
// the writer did not know the kinds. A change whose tasks wait for a
// backoff wakes nobody. Like Notify it never blocks: when the publish
// window is full the rest are dropped (the poll covers them).
func (p *Publisher) publishWork(r *route, c taskstate.Change) {
	if !wakesWorkers(r, c) {
		return
	}
	body := appendPayload(make([]byte, 0, 48), 1, time.Now().UnixNano())
	if c.Kinds == nil {
		p.putWork(WorkSubject(r.pool, ""), body, c.N)
		return
	}
	for kind, n := range c.Kinds {
		if !p.putWork(WorkSubject(r.pool, kind), body, n) {
			return
		}
	}
}

// wakesWorkers reports whether change c of route r has wake-ups: tasks
// created or made available now (not after a backoff).
func wakesWorkers(r *route, c taskstate.Change) bool {
	return r.wakes && c.N > 0 && !c.Delayed
}

// putWork publishes min(n, Config.WorkFanout) wake-ups for the work queue
// subject, on its fast path (wake.go), and reports whether they went out.
func (p *Publisher) putWork(subject string, body []byte, n int) bool {
	for range min(n, p.c.cfg.WorkFanout) {
		if err := p.wake(subject, body); err != nil {
			return false
		}
	}
	return true
}

// WorkWakeup hands the wake-ups of a pool's work queues to one worker:
// each `created` or `available` wake-up goes to ONE worker that is waiting
// with a free slot and runs the kind of the tasks, not to all of them. A
// receive from C means "claim now"; the WorkWakeup acknowledges the
// wake-up when C is received from, whatever the claim finds.
//
// A WorkWakeup pulls one queue per kind of its worker, plus the pool's
// any-kind queue (wake-ups whose writer did not know the kinds: a bulk
// retry, a resumed pool). The worker receives from C only while it has a
// free slot. A wake-up that is not taken within 10 ms (the worker filled
// up, or it is backing off after empty wake-ups) goes back to the queue
// for another worker (at most four times, then it is dropped: the poll
// covers it), and this worker pulls again only after it next takes from
// C. After a failed pull (a lost connection, a restarted server) C gets
// one wake-up once the queue answers again, for what may have been
// missed.
//
// Like every event, a wake-up is a hint: a lost one costs a poll interval,
// a spare one an empty claim. Live says whether wake-ups are flowing, so
// the worker can poll less often while they are.
type WorkWakeup struct {
	c        *Conn
	pool     string
	ch       chan struct{} // unbuffered: handed over only to a worker that asks
	received prometheus.Counter
	cancel   context.CancelFunc
	pullers  []*workPuller
	done     sync.WaitGroup
	ready    atomic.Int32         // pullers holding a consumer
	closing  <-chan struct{}      // closed when the WorkWakeup stops
	fast     []*nats.Subscription // the fast paths' subscriptions (wake.go), set once
}

// workPuller pulls one work queue (one kind, or any kind) for a WorkWakeup.
type workPuller struct {
	w     *WorkWakeup
	token string
	kick  chan struct{} // capacity 1: the connection came back, pull afresh
	seq   uint64        // pull requests made (the puller's goroutine only)

	mu         sync.Mutex
	cancelPull context.CancelFunc // ends the pull in flight
}

// WorkWakeups starts pulling the work queues of pool for kinds (and the
// pool's any-kind queue), joins their fast paths (wake.go), and returns
// the WorkWakeup. It ends on Close, on
// the end of ctx or on the Conn's Close.
func (c *Conn) WorkWakeups(ctx context.Context, pool string, kinds ...string) (*WorkWakeup, error) {
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
	}
	tokens := []string{anyKind}
	for _, k := range kinds {
		tokens = append(tokens, kindToken(k))
	}
	slices.Sort(tokens)
	for _, tok := range slices.Compact(tokens) {
		w.pullers = append(w.pullers, &workPuller{w: w, token: tok, kick: make(chan struct{}, 1)})
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
	w.closing = wctx.Done()
	subs := make([]*nats.Subscription, 0, len(w.pullers))
	for _, p := range w.pullers {
		ws := WorkSubjectPrefix + "." + pool + "." + p.token
		sub, err := w.joinWake(ws)
		if err != nil {
			for _, s := range subs {
				_ = s.Unsubscribe()
			}
			w.cancel()
			return nil, &opError{op: "subscribe " + wakeSubject(ws), err: err, msg: c.describe(err)}
		}
		subs = append(subs, sub)
	}
	w.fast = subs
	context.AfterFunc(wctx, func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	})
	// The server has the fast-path subscriptions before we return, so a
	// wake-up published next finds them. An ended ctx ends the WorkWakeup
	// through wctx.
	_ = c.flushSubscribed(ctx, pool)
	for _, p := range w.pullers {
		w.done.Add(1)
		go func() { defer w.done.Done(); p.run(wctx) }()
	}
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
		for _, p := range w.pullers {
			select {
			case p.kick <- struct{}{}:
			default:
			}
			p.mu.Lock()
			if p.cancelPull != nil {
				p.cancelPull()
			}
			p.mu.Unlock()
		}
	}
}

// C returns the wake-up channel.
func (w *WorkWakeup) C() <-chan struct{} { return w.ch }

// Live reports whether wake-ups are flowing now: the connection is up and
// every queue of the WorkWakeup answered its last pull.
func (w *WorkWakeup) Live() bool {
	return w.c.nc.IsConnected() && int(w.ready.Load()) == len(w.pullers)
}

// Close stops pulling and waits for the pullers to end. It is idempotent.
func (w *WorkWakeup) Close() error {
	w.cancel()
	w.done.Wait()
	return nil
}

func (p *workPuller) run(ctx context.Context) {
	w := p.w
	// One inbox for the life of the puller; each pull request gets its
	// own reply subject under it, so a late status for an earlier request
	// is told apart.
	inbox := w.c.nc.NewInbox()
	sub, err := w.c.nc.SubscribeSync(inbox + ".*")
	if err != nil {
		w.c.log.Warn("work queue: cannot subscribe; the poll finds the work", zap.String("pool", w.pool), zap.String("error", w.c.describe(err)))
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	next := "$JS.API.CONSUMER.MSG.NEXT." + WorkStreamName + "." + workConsumerConfig(w.pool, p.token).Durable
	ready := false
	retry := workRetryFloor
	failed := false
	for ctx.Err() == nil {
		var err error
		if !ready {
			_, err = w.c.js.CreateOrUpdateConsumer(ctx, WorkStreamName, workConsumerConfig(w.pool, p.token))
			if err == nil {
				ready = true
				w.ready.Add(1)
			}
			if err == nil && failed { // the queue answers again: look once for what was missed
				failed = false
				w.give(ctx)
			}
		}
		var msg *nats.Msg
		if err == nil {
			msg, err = p.pull(ctx, sub, inbox, next)
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
		case errors.Is(err, errPullExpired):
			// The pull expired with nothing: pull again.
		default:
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				w.c.requestEnsure()
			}
			w.c.log.Debug("work queue pull failed; retrying", zap.String("pool", w.pool), zap.String("queue", p.token), zap.String("error", w.c.describe(err)))
			if ready {
				w.ready.Add(-1)
			}
			ready, failed = false, true
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-p.kick:
				retry = workRetryFloor
			case <-t.C:
				retry = min(2*retry, workRetryCeil)
			}
			t.Stop()
		}
	}
}

// errPullExpired: a pull request ended with nothing to hand out.
var errPullExpired = errors.New("work queue: pull expired")

// pullBody asks for one wake-up, waiting up to workPull at the server.
var pullBody = []byte(fmt.Sprintf(`{"batch":1,"expires":%d}`, workPull.Nanoseconds()))

// pull waits up to workPull for one wake-up. It speaks JetStream's pull
// protocol itself, one request on the puller's inbox, rather than through
// Consumer.Next: a Fetch per call subscribes anew and hands each message
// through a goroutine and two channels, which cost a pickup about 0.2 ms
// on an idle machine. A kick ends it early with errKicked.
func (p *workPuller) pull(ctx context.Context, sub *nats.Subscription, inbox, next string) (*nats.Msg, error) {
	pctx, cancel := context.WithTimeout(ctx, workPull+time.Second)
	defer cancel()
	kicked, kick := context.WithCancelCause(pctx)
	defer kick(nil)
	p.mu.Lock()
	p.cancelPull = func() { kick(errKicked) }
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.cancelPull = nil
		p.mu.Unlock()
	}()
	p.seq++
	reply := inbox + "." + strconv.FormatUint(p.seq, 10)
	if err := p.w.c.nc.PublishRequest(next, reply, pullBody); err != nil {
		return nil, err
	}
	for {
		msg, err := sub.NextMsgWithContext(kicked)
		switch {
		case err != nil && errors.Is(context.Cause(kicked), errKicked):
			return nil, errKicked
		case errors.Is(err, context.DeadlineExceeded):
			return nil, errPullExpired // no answer at all: the server went away
		case err != nil:
			return nil, err
		}
		// A wake-up comes under its own subject; a status answers one
		// request, on its reply subject: one of an earlier request (gone
		// with a kick) is not this one's.
		status := msg.Header.Get("Status")
		switch {
		case status == "":
			return msg, nil
		case msg.Subject != reply:
			continue
		}
		switch status {
		case "100": // an idle heartbeat
		case "404", "408":
			return nil, errPullExpired
		default:
			return nil, fmt.Errorf("work queue: pull answered %s %s", status, msg.Header.Get("Description"))
		}
	}
}

var errKicked = errors.New("connection came back: pulling afresh")

// offer hands msg's wake-up to this worker if it takes it within
// workHandoff, and acks it; otherwise it returns the wake-up to the queue
// for another worker and waits until this one asks again.
func (w *WorkWakeup) offer(ctx context.Context, msg *nats.Msg) {
	if w.hand(workHandoff, ctx.Done()) {
		_ = msg.Ack()
		return
	}
	if ctx.Err() != nil {
		_ = msg.Nak()
		return
	}
	if md, err := msg.Metadata(); err == nil && md.NumDelivered >= workMaxDeliver {
		_ = msg.Term()
	} else {
		_ = msg.Nak()
	}
	w.give(ctx)
}

// hand gives the worker a wake-up if it takes one within d, unless done
// closes first, and reports whether it did.
func (w *WorkWakeup) hand(d time.Duration, done <-chan struct{}) bool {
	select {
	case w.ch <- struct{}{}: // a worker waiting already: no timer
		w.received.Inc()
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case w.ch <- struct{}{}:
		w.received.Inc()
		return true
	case <-t.C:
	case <-done:
	}
	return false
}

// give blocks until the worker takes a wake-up or ctx ends.
func (w *WorkWakeup) give(ctx context.Context) {
	select {
	case w.ch <- struct{}{}:
	case <-ctx.Done():
	}
}

// DeleteWorkConsumers deletes the work queues' consumers of pool (one per
// kind the pool's workers ran, and its any-kind queue's) and returns how
// many it deleted. A consumer goes by itself an hour after its last
// worker; a tool that drops a pool, such as `dispatcher bench` against a
// shared NATS, deletes them at once, since on a cluster each is a Raft
// group its nodes keep alive. A worker of the pool still running
// recreates its consumer on its next pull. Errors wrap ErrJetStream.
func (c *Conn) DeleteWorkConsumers(ctx context.Context, pool string) (int, error) {
	if err := taskstate.ValidatePool(pool); err != nil {
		return 0, fmt.Errorf("events: delete work consumers: %w", err)
	}
	s, err := c.js.Stream(ctx, WorkStreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, &opError{op: "delete work consumers of " + pool, kind: ErrJetStream, err: err, msg: c.describe(err)}
	}
	prefix := workConsumerConfig(pool, "").Durable // "work-<len>-<pool>-": no other pool's
	names := s.ConsumerNames(ctx)
	var doomed []string
	for name := range names.Name() {
		if strings.HasPrefix(name, prefix) {
			doomed = append(doomed, name)
		}
	}
	if err := names.Err(); err != nil {
		return 0, &opError{op: "list work consumers of " + pool, kind: ErrJetStream, err: err, msg: c.describe(err)}
	}
	n := 0
	for _, name := range doomed {
		err := s.DeleteConsumer(ctx, name)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return n, &opError{op: "delete work consumer " + name, kind: ErrJetStream, err: err, msg: c.describe(err)}
		}
		n++
	}
	return n, nil
}
