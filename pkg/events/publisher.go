package events

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Events lists the events the task Manager publishes, in lifecycle order.
var Events = []taskstate.Event{
	taskstate.EventCreated,
	taskstate.EventAvailable,
	taskstate.EventCommitted,
	taskstate.EventFailed,
}

// Subject returns the subject an event of pool is published on:
// "taskfleet.<pool>.<event>".
func Subject(pool string, ev taskstate.Event) string {
	return SubjectPrefix + "." + pool + "." + string(ev)
}

// Payload is the body of every event message, in JSON: {"n":3,"at":1700000000000000000}.
type Payload struct {
	// N is how many tasks the store write touched.
	N int `json:"n"`
	// At is the publish time in Unix nanoseconds.
	At int64 `json:"at"`
	// IDs are the ids of the touched tasks when the writer knew them, at
	// most taskstate.MaxEventIDs (see Publisher.NotifyChange).
	IDs []string `json:"ids,omitempty"`
}

// appendPayload appends the JSON of Payload{n, at} to b, without reflection.
func appendPayload(b []byte, n int, at int64) []byte {
	b = append(b, `{"n":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"at":`...)
	b = strconv.AppendInt(b, at, 10)
	return append(b, '}')
}

// ParsePayload decodes the body of an event message.
func ParsePayload(data []byte) (Payload, error) {
	var p Payload
	err := json.Unmarshal(data, &p)
	return p, err
}

// Publisher publishes task events. It implements taskstate.Notifier: give
// it to the Manager (taskstate.Config.Notifier) and every successful store
// write becomes a hint on the stream.
//
// Notify publishes asynchronously (JetStream PublishAsync, and core NATS
// for the wake-ups of a created or available event) and returns in
// microseconds, once the event is in the client's buffer (see
// historyqueue.go); it never blocks on the network and never fails the
// caller. Acks are counted as published, everything else (not connected,
// negative or missing ack, a full publish window) as failed, and logged at
// most once per interval. A Publisher is safe for concurrent use.
type Publisher struct {
	c *Conn

	noWaker string // the inbox of "no responders" answers to fast-path wake-ups (wake.go)

	mu      sync.RWMutex
	byKey   map[routeKey]*route
	bySubj  map[string]*route
	failLog rateLog
}

var _ taskstate.Notifier = (*Publisher)(nil)

type routeKey struct {
	pool string
	ev   taskstate.Event
}

// route caches what Notify needs per (pool, event): the subject and the
// counter children, so the hot path does no label hashing.
type route struct {
	pool, ev  string
	subject   string
	wakes     bool // created and available: the event also wakes workers through the work queues
	valid     bool
	published prometheus.Counter
	failed    prometheus.Counter
}

func newPublisher(c *Conn) *Publisher {
	return &Publisher{
		c:       c,
		byKey:   make(map[routeKey]*route),
		bySubj:  make(map[string]*route),
		failLog: rateLog{every: logEvery},
	}
}

// InitPool creates the published and failed counters of the four events of
// pool at zero, so dashboards show 0 rather than "no data" before the first
// event.
func (p *Publisher) InitPool(pool string) {
	for _, ev := range Events {
		p.route(pool, ev)
	}
}

// route returns the cached route of (pool, ev), creating it on first use.
func (p *Publisher) route(pool string, ev taskstate.Event) *route {
	k := routeKey{pool, ev}
	p.mu.RLock()
	r := p.byKey[k]
	p.mu.RUnlock()
	if r != nil {
		return r
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.byKey[k]; r != nil {
		return r
	}
	r = &route{
		pool:      pool,
		ev:        string(ev),
		subject:   Subject(pool, ev),
		valid:     taskstate.ValidatePool(pool) == nil && validToken(string(ev)),
		published: p.c.m.published.WithLabelValues(pool, string(ev)),
		failed:    p.c.m.failed.WithLabelValues(pool, string(ev)),
	}
	r.wakes = r.valid && (ev == taskstate.EventCreated || ev == taskstate.EventAvailable)
	p.byKey[k] = r
	if r.valid {
		p.bySubj[r.subject] = r
	}
	return r
}

// validToken reports whether s can be one token of a subject.
func validToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n")
}

// Notify publishes event ev of pool, touching n tasks, to
// "taskfleet.<pool>.<event>" with a unique Nats-Msg-Id. It returns at once;
// see Publisher. ctx is not used: the publish outlives the caller's request
// by design.
func (p *Publisher) Notify(_ context.Context, pool string, ev taskstate.Event, n int) {
	p.publish(pool, taskstate.Change{Event: ev, N: n}, func(b []byte) []byte { return appendPayload(b, n, time.Now().UnixNano()) })
}

// publish publishes the body that payload appends, and c's wake-ups; see
// Notify.
func (p *Publisher) publish(pool string, c taskstate.Change, payload func([]byte) []byte) {
	r := p.route(pool, c.Event)
	if !r.valid {
		p.fail(r, errInvalidSubject)
		return
	}
	msg := &nats.Msg{
		Subject: r.subject,
		Header:  nats.Header{jetstream.MsgIDHeader: []string{nuid.Next()}},
		Data:    payload(make([]byte, 0, 48)),
	}
	if wakesWorkers(r, c) {
		p.publishWithWakeups(r, msg, c) // see historyqueue.go
		return
	}
	p.publishHistory(r, msg)
}

// stallOpt bounds how long a history publish may wait for a slot in the
// publish window when it lost the race against other publishers for the
// last one.
var stallOpt = jetstream.WithStallWait(100 * time.Microsecond)

var (
	errInvalidSubject = errors.New("pool or event is not a valid subject token")
	errWindowFull     = errors.New("async publish window full; event dropped")
)

// onAck counts an acknowledged publish. It runs on the client's ack
// goroutine and must not block.
func (p *Publisher) onAck(_ jetstream.JetStream, msg *nats.Msg, _ *jetstream.PubAck) {
	if r := p.lookup(msg.Subject); r != nil {
		r.published.Inc()
	}
}

// onAsyncErr counts a publish that failed after Notify returned: a
// negative ack, no stream, an ack timeout or a lost connection.
func (p *Publisher) onAsyncErr(_ jetstream.JetStream, msg *nats.Msg, err error) {
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound) {
		p.c.requestEnsure()
	}
	if r := p.lookup(msg.Subject); r != nil {
		p.fail(r, err)
	}
}

func (p *Publisher) lookup(subject string) *route {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.bySubj[subject]
}

// fail counts and, rate-limited, logs one failed publish.
func (p *Publisher) fail(r *route, err error) {
	r.failed.Inc()
	if ok, suppressed := p.failLog.allow(time.Now()); ok {
		p.c.log.Warn("event publish failed; workers and waiters fall back to polling",
			zap.String("pool", r.pool), zap.String("event", r.ev),
			zap.String("error", p.c.describe(err)),
			zap.Int("suppressed", suppressed))
	}
}
