package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/taskfleet/taskfleet/internal/app"
	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/events"
)

func init() {
	register("events", "print the pool's events from the NATS stream TASKFLEET (-f follows new ones)", cmdEvents)
}

const eventsSummary = `Print the events of --pool kept by the NATS stream TASKFLEET (the last hour), oldest first, from
--since ago: time, event (created, available, committed, failed), how many tasks and their ids. Without
-f it exits after the last stored event; with -f it then prints new events until interrupted. It reads
NATS only (--nats is required), so it works after the workers are gone. -o json prints one JSON object
per line.`

// eventJSON is one line of -o json.
type eventJSON struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Pool  string    `json:"pool"`
	Event string    `json:"event"`
	N     int       `json:"n"`
	IDs   []string  `json:"ids,omitempty"`
}

func cmdEvents(ctx context.Context, m *Main, args []string) error {
	var since time.Duration
	var follow bool
	e, err := m.parse("events", eventsSummary, args, func(fs *cli.FlagSet) {
		fs.DurationVar(&since, "since", "TASKFLEET_EVENTS_SINCE", events.StreamMaxAge, "print events published since this long ago (the stream keeps 1h)")
		fs.BoolVar(&follow, "f", "", false, "follow: print new events until interrupted")
	})
	if err != nil {
		return err
	}
	switch {
	case len(e.pos) > 0:
		return cli.Usagef("events: unexpected argument %q", e.pos[0])
	case since <= 0:
		return cli.Usagef("%s: %s: want a positive duration", e.fs.Where("since"), since)
	case e.c.NATS == "":
		return cli.Usagef("%s: a NATS URL is required: the event history is the stream %s", e.fs.Where("nats"), events.StreamName)
	}
	log, err := e.c.NewLog(m.Stderr)
	if err != nil {
		return err
	}
	cfg, _ := app.EventsConfig(&e.c, "dispatcher-events", log, nil)
	// Reading the history needs the server now: fail rather than wait.
	cfg.ConnectInBackground = false
	conn, err := events.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	enc := json.NewEncoder(m.Stdout)
	p := events.HistoryParams{Pool: e.c.Pool, Since: time.Now().Add(-since), Follow: follow}
	return conn.History(ctx, p, func(r events.Record) error {
		if e.json() {
			return enc.Encode(eventJSON{Seq: r.Seq, Time: r.Time.UTC(), Pool: r.Pool, Event: string(r.Event), N: r.N, IDs: r.IDs})
		}
		_, err := fmt.Fprintln(m.Stdout, r.String())
		return err
	})
}
