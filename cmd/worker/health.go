package main

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/app"
	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/health"
)

// storeHealth is the worker's view of its store: /readyz answers from it,
// and a lost SQLite file stops the worker.
type storeHealth struct {
	mon    atomic.Pointer[health.Monitor]
	advice *cpuAdvice // looked at after each check that answered; nil: none
}

// observe passes the error of a store call to the monitor, once started.
func (h *storeHealth) observe(err error) {
	if m := h.mon.Load(); m != nil {
		m.Observe(err)
	}
}

// start starts the monitor over the opened store.
// onFatal is called once when the store is lost for good.
func (h *storeHealth) start(ctx context.Context, c *cli.Common, a *app.App, interval time.Duration, log *zap.Logger, onFatal func(error)) (*health.Monitor, error) {
	cfg := health.Config{
		Check: func(ctx context.Context) error {
			_, err := a.Store.ListPools(ctx)
			if err == nil && h.advice != nil {
				h.advice.check(ctx)
			}
			return err
		},
		Interval: interval,
		Logger:   log,
		OnFatal:  onFatal,
	}
	if kind, path, _ := c.StoreTarget(); kind == cli.StoreSQLite {
		cfg.File = path
	}
	m, err := health.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	h.mon.Store(m)
	return m, nil
}

// ready is the worker's readiness: the store answers and it is not
// draining.
func (h *storeHealth) ready() error {
	if m := h.mon.Load(); m != nil {
		return m.Ready()
	}
	return health.ErrNotChecked
}
