package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Record is one event read back from the stream.
type Record struct {
	// Seq is the event's sequence number in the stream.
	Seq uint64
	// Time is when it was published (Payload.At; the stream's time for a
	// body without one).
	Time time.Time
	// Pool and Event name it.
	Pool  string
	Event taskstate.Event
	// N is how many tasks the write touched; IDs are theirs when the
	// writer knew them (at most taskstate.MaxEventIDs).
	N   int
	IDs []string
}

// HistoryParams are the arguments of Conn.History.
type HistoryParams struct {
	// Pool is the pool whose events are read (required).
	Pool string
	// Since is the oldest publish time read. Default (zero): everything
	// the stream still keeps (StreamMaxAge).
	Since time.Time
	// Follow keeps reading new events until ctx ends. Default: return
	// after the last event stored when the read started.
	Follow bool
}

// History reads the pool's events from the stream TASKFLEET with an
// ordered consumer (ephemeral, no state on the server, recreated by the
// client after a reconnect) and calls fn with each one in stream order. A
// body that does not parse is passed with N 0 rather than stopping the
// read: the stream is a history of hints, not a contract. History returns
// fn's error, or nil when ctx ends while following. Errors of the stream
// wrap ErrJetStream.
func (c *Conn) History(ctx context.Context, p HistoryParams, fn func(Record) error) error {
	if err := taskstate.ValidatePool(p.Pool); err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SubjectPrefix + "." + p.Pool + ".>"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if !p.Since.IsZero() {
		since := p.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := c.js.OrderedConsumer(ctx, StreamName, cfg)
	if err != nil {
		return &opError{op: "read stream " + StreamName, kind: ErrJetStream, err: err, msg: c.describe(err)}
	}
	if !p.Follow {
		info, err := cons.Info(ctx)
		if err != nil {
			return &opError{op: "read stream " + StreamName, kind: ErrJetStream, err: err, msg: c.describe(err)}
		}
		if info.NumPending == 0 {
			return nil
		}
	}
	it, err := cons.Messages()
	if err != nil {
		return &opError{op: "read stream " + StreamName, kind: ErrJetStream, err: err, msg: c.describe(err)}
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return &opError{op: "read stream " + StreamName, kind: ErrJetStream, err: err, msg: c.describe(err)}
		}
		rec, pending := record(msg)
		if err := fn(rec); err != nil {
			return err
		}
		if !p.Follow && pending == 0 {
			return nil
		}
	}
}

// record decodes one stream message and returns it with the number of
// matching messages still pending after it.
func record(msg jetstream.Msg) (Record, uint64) {
	var rec Record
	var pending uint64
	if md, err := msg.Metadata(); err == nil {
		rec.Seq, rec.Time, pending = md.Sequence.Stream, md.Timestamp, md.NumPending
	}
	rest := strings.TrimPrefix(msg.Subject(), SubjectPrefix+".")
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		rec.Pool, rec.Event = rest[:i], taskstate.Event(rest[i+1:])
	}
	if pl, err := ParsePayload(msg.Data()); err == nil {
		rec.N, rec.IDs = pl.N, pl.IDs
		if pl.At > 0 {
			rec.Time = time.Unix(0, pl.At)
		}
	}
	return rec, pending
}

// String renders a record on one line: time, event, count and ids.
func (r Record) String() string {
	s := fmt.Sprintf("%s %-9s %d", r.Time.UTC().Format(time.RFC3339Nano), r.Event, r.N)
	if len(r.IDs) > 0 {
		s += " " + strings.Join(r.IDs, ",")
		if r.N > len(r.IDs) {
			s += fmt.Sprintf(" (+%d more)", r.N-len(r.IDs))
		}
	}
	return s
}
