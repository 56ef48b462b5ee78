package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/metrics"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("exporter", "serve every pool's tasks-by-status gauges on --metrics-addr for Prometheus", cmdExporter)
}

func cmdExporter(ctx context.Context, m *Main, args []string) error {
	var addr string
	e, err := m.parse("exporter", "Serve /metrics with taskfleet_tasks{pool,status} for every pool of the store (counted at scrape time),\nplus /healthz and /readyz, until SIGTERM or SIGINT.", args, func(fs *cli.FlagSet) {
		fs.StringVar(&addr, "metrics-addr", "TASKFLEET_METRICS_ADDR", ":9091", "HOST:PORT to serve /metrics on")
	})
	if err != nil {
		return err
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	srv, err := serveStoreMetrics(ctx, e, addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	<-ctx.Done()
	return nil
}

// serveStoreMetrics serves the pool gauges of every pool and the store
// latency of this process.
func serveStoreMetrics(ctx context.Context, e *env, addr string) (*metrics.Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	store := e.app.Store
	reg.MustRegister(metrics.NewPoolCollector(func(ctx context.Context, pool string) (taskstate.Counts, error) {
		return store.Stat(ctx, taskstate.StatParams{Pool: pool})
	}, store.ListPools, 5*time.Second, e.app.Log))
	reg.MustRegister(metrics.NewPausedCollector(store.PoolState, store.ListPools, 5*time.Second, e.app.Log))
	ready := func() error {
		_, err := store.ListPools(ctx)
		return err
	}
	srv, err := metrics.Serve(ctx, addr, reg, ready, e.app.Log)
	if err != nil {
		return nil, cli.Usagef("%s: %v", e.fs.Where("metrics-addr"), err)
	}
	e.app.Log.Info("serving pool metrics", zap.String("addr", "http://"+srv.Addr()+"/metrics"))
	return srv, nil
}
