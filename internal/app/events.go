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

// RunnerWakeups returns the wake-ups of a worker that claims from status
// from, or nil without NATS; stop releases them. A worker of waiting tasks
// pulls the pool's work queue, where each wake-up goes to one idle worker;
// a phase-two worker (part_done) wakes on every created and available
// event.
func (a *App) RunnerWakeups(ctx context.Context, from taskstate.Status) (ch <-chan struct{}, stop func(), err error) {
	if a.Events == nil || from != taskstate.StatusWaiting {
		return a.Wakeups(ctx, taskstate.EventCreated, taskstate.EventAvailable)
	}
	w, err := a.Events.WorkWakeups(ctx, a.Manager.Pool())
	if err != nil {
		return nil, nil, err
	}
	return w.C(), func() { _ = w.Close() }, nil
}
