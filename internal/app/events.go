package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// EventsConfig returns the event bus configuration of the flags for a
// client called name, or false when no NATS URL is set.
func EventsConfig(c *cli.Common, name string, log *zap.Logger, reg prometheus.Registerer) (events.Config, bool) {
	if c.NATS == "" {
		return events.Config{}, false
	}
	cfg := events.Config{
		URL: c.NATS, User: c.NATSUser, Password: c.NATSPassword, Token: c.NATSToken, CredsFile: c.NATSCreds,
		TLSCAFile: c.NATSCA, TLSCertFile: c.NATSCert, TLSKeyFile: c.NATSKey,
		Name: name, Logger: log, Registerer: reg,
		// NATS is optional: a process whose server is down at start works by
		// polling and picks events up once the server answers.
		ConnectRetry: time.Second, ConnectInBackground: true,
	}
	c.NATSLimits.Apply(&cfg)
	return cfg, true
}

// RunnerWakeups returns the wake-ups of a worker of kinds that claims from
// status from, or nil without NATS; stop releases them; live, when not
// nil, reports whether they are flowing (taskstate.RunnerConfig's
// WakeupsLive). A worker of waiting tasks pulls the work queues of its
// kinds, where each wake-up goes to one idle worker of the kind; a
// phase-two worker (part_done) wakes on every created and available event
// and keeps its short poll.
func (a *App) RunnerWakeups(ctx context.Context, from taskstate.Status, kinds []string) (ch <-chan struct{}, live func() bool, stop func(), err error) {
	if a.Events == nil || from != taskstate.StatusWaiting {
		ch, stop, err = a.Wakeups(ctx, taskstate.EventCreated, taskstate.EventAvailable)
		return ch, nil, stop, err
	}
	w, err := a.Events.WorkWakeups(ctx, a.Manager.Pool(), kinds...)
	if err != nil {
		return nil, nil, nil, err
	}
	return w.C(), w.Live, func() { _ = w.Close() }, nil
}
