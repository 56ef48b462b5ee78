package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/app"
	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/health"
	"github.com/taskfleet/taskfleet/internal/metrics"
	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("exporter", "serve every pool's tasks-by-status gauges on --metrics-addr for Prometheus", cmdExporter)
}

// storeOpenTimeout bounds the exporter's attempt to open its store at start.
const storeOpenTimeout = 2 * time.Second

func cmdExporter(ctx context.Context, m *Main, args []string) error {
	var addr string
	e, err := m.parse("exporter", "Serve /metrics with taskfleet_tasks{pool,status} for every pool of the store (counted at scrape time),\nplus /healthz and /readyz, until SIGTERM or SIGINT. It starts even when the store is not reachable yet:\n/readyz is 503 (at once, never a hang) until the store answers, and whenever it stops answering.", args, func(fs *cli.FlagSet) {
		fs.StringVar(&addr, "metrics-addr", "TASKFLEET_METRICS_ADDR", ":9091", "HOST:PORT to serve /metrics on")
	})
	if err != nil {
		return err
	}
	log, err := e.c.NewLog(m.Stderr)
	if err != nil {
		return err
	}
	ls := &lazyStore{c: &e.c, log: log}
	defer ls.close()
	octx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
	_, err = ls.open(octx)
	cancel()
	if errors.Is(err, cli.ErrUsage) {
		return err
	}
	mctx, stop := context.WithCancel(ctx)
	mon, err := health.Start(mctx, health.Config{Check: ls.check, Logger: log})
	if err != nil {
		stop()
		return err
	}
	defer func() { stop(); <-mon.Done() }()
	reg := prometheus.NewRegistry()
	// With --nats the exporter also reports the event bus as it sees it
	// (taskfleet_events_connected), like a worker; it publishes nothing.
	if cfg, ok := app.EventsConfig(&e.c, "exporter", log, reg); ok {
		conn, err := events.Connect(ctx, cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
	}
	srv, err := serveStoreMetrics(ctx, e, addr, reg, ls, mon.Ready, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	<-ctx.Done()
	return nil
}

// lazyStore is the exporter's store, opened by the first health check
// that reaches it; until then the gauges are left out and /readyz is 503.
type lazyStore struct {
	c   *cli.Common
	log *zap.Logger

	mu    sync.Mutex
	store taskstate.Store
}

// errStoreNotOpen: the store has not been reached yet.
var errStoreNotOpen = errors.New("store not opened yet")

// open opens the store unless it is open; a missing SQLite file is not
// created (the exporter only reads).
func (l *lazyStore) open(ctx context.Context) (taskstate.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.store != nil {
		return l.store, nil
	}
	if kind, path, _ := l.c.StoreTarget(); kind == cli.StoreSQLite {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w: no store at %s yet", errStoreNotOpen, path)
		}
	}
	s, err := app.OpenStore(ctx, l.c, l.log)
	if err != nil {
		return nil, err
	}
	l.store = s
	return s, nil
}

// current returns the store once open, without trying to open it.
func (l *lazyStore) current() (taskstate.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.store == nil {
		return nil, errStoreNotOpen
	}
	return l.store, nil
}

// check is the health check: the store is open and answers.
func (l *lazyStore) check(ctx context.Context) error {
	s, err := l.open(ctx)
	if err != nil {
		return err
	}
	_, err = s.ListPools(ctx)
	return err
}

func (l *lazyStore) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.store != nil {
		_ = l.store.Close()
	}
}

// serveStoreMetrics serves the pool gauges of every pool and the store
// latency of this process.
func serveStoreMetrics(ctx context.Context, e *env, addr string, reg *prometheus.Registry, ls *lazyStore, ready func() error, log *zap.Logger) (*metrics.Server, error) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pools := func(ctx context.Context) ([]string, error) {
		s, err := ls.current()
		if err != nil {
			return nil, err
		}
		return s.ListPools(ctx)
	}
	reg.MustRegister(metrics.NewPoolCollector(func(ctx context.Context, pool string) (taskstate.Counts, error) {
		s, err := ls.current()
		if err != nil {
			return nil, err
		}
		return s.Stat(ctx, taskstate.StatParams{Pool: pool})
	}, pools, 5*time.Second, log))
	reg.MustRegister(metrics.NewPausedCollector(func(ctx context.Context, pool string) (taskstate.PoolState, error) {
		s, err := ls.current()
		if err != nil {
			return taskstate.PoolState{}, err
		}
		return s.PoolState(ctx, pool)
	}, pools, 5*time.Second, log))
	srv, err := metrics.Serve(ctx, addr, reg, ready, log)
	if err != nil {
		return nil, cli.Usagef("%s: %v", e.fs.Where("metrics-addr"), err)
	}
	log.Info("serving pool metrics", zap.String("addr", "http://"+srv.Addr()+"/metrics"))
	return srv, nil
}
