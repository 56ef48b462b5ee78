package app

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// App is what a command works with: a logger, the store, the event bus (or
// nil without --nats) and the pool's Manager.
type App struct {
	Log     *zap.Logger
	Store   taskstate.Store
	Events  *events.Conn
	Manager *taskstate.Manager

	closers []func() error
}

// Open opens the store, connects to NATS when configured (as client name,
// with its metrics on reg) and returns the App for the configured pool,
// whose Manager is built from mcfg. Close releases everything.
func Open(ctx context.Context, c *cli.Common, log *zap.Logger, name string, reg prometheus.Registerer, mcfg taskstate.Config) (*App, error) {
	a := &App{Log: log}
	store, err := OpenStore(ctx, c, log)
	if err != nil {
		return nil, err
	}
	a.Store = store
	a.closers = append(a.closers, store.Close)
	if cfg, ok := EventsConfig(c, name, log, reg); ok {
		conn, err := events.Connect(ctx, cfg)
		switch {
		case errors.Is(err, events.ErrUnreachable):
			// Events are hints: without them everything works by polling.
			log.Warn("NATS is unreachable; running without events (polling only) — restart to use events once it is up",
				zap.String("nats", events.Redact(c.NATS)), zap.Error(err))
		case err != nil:
			a.Close()
			return nil, err
		default:
			a.Events = conn
			a.closers = append(a.closers, conn.Close)
			conn.Notifier().InitPool(c.Pool)
			mcfg.Notifier = conn.Notifier()
		}
	}
	mcfg.Store, mcfg.Pool = store, c.Pool
	if mcfg.RedactError == nil {
		mcfg.RedactError = c.Redactor().String
	}
	if mcfg.Logger == nil {
		mcfg.Logger = log
	}
	m, err := taskstate.NewManager(mcfg)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Manager = m
	return a, nil
}

// Wakeups returns a wake-up channel for the pool's events, or nil without
// NATS; stop releases it.
func (a *App) Wakeups(ctx context.Context, evs ...taskstate.Event) (ch <-chan struct{}, stop func(), err error) {
	if a.Events == nil {
		return nil, func() {}, nil
	}
	w, err := a.Events.Wakeups(ctx, a.Manager.Pool(), evs...)
	if err != nil {
		return nil, nil, err
	}
	return w.C(), func() { _ = w.Close() }, nil
}

// Close releases the store and the NATS connection, last opened first.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}
