package main

import (
	"context"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// cpuAdvice warns, once, when other worker processes on this host write
// the worker's SQLite file while Go schedules it on every CPU. Go's
// default assumes one process per machine: four worker processes on two
// cores then run up to eight threads, and the one holding the file's
// writer is descheduled while the others' tasks run. Four such processes
// reached a median 0.81 of one process's rate; given a CPU each (--cpus
// 1), 0.92 (docs/BENCHMARKS.md, round 12). Another writer alone (a
// dispatcher's create) is no reason: the advice is for worker processes,
// found in the registry.
type cpuAdvice struct {
	store  taskstate.Shared // nil: a store that cannot tell (MongoDB)
	chosen bool             // --cpus or GOMAXPROCS was given
	log    *zap.Logger
	// others counts the other live worker processes of this host in the
	// store's registry.
	others func(ctx context.Context) (int, error)
	warned atomic.Bool
	next   time.Time // the registry is read again from then (check is called from one goroutine)
}

// adviceRecheck is how long the advice waits before it reads the registry
// again after finding no other worker process on the host.
const adviceRecheck = 30 * time.Second

func newCPUAdvice(s taskstate.Store, chosen bool, log *zap.Logger) *cpuAdvice {
	sh, _ := s.(taskstate.Shared)
	host, _ := os.Hostname()
	return &cpuAdvice{store: sh, chosen: chosen, log: log, others: func(ctx context.Context) (int, error) {
		return otherWorkers(ctx, s, host, os.Getpid(), time.Now())
	}}
}

// check warns if it is time to; the health monitor calls it after each
// check that answered.
func (a *cpuAdvice) check(ctx context.Context) {
	if a.store == nil || a.chosen || a.warned.Load() {
		return
	}
	procs := runtime.GOMAXPROCS(0)
	if procs < 2 || procs < runtime.NumCPU() || !a.store.Shared() || time.Now().Before(a.next) {
		return
	}
	n, err := a.others(ctx)
	if err != nil || n == 0 {
		a.next = time.Now().Add(adviceRecheck)
		return
	}
	a.warned.Store(true)
	a.log.Warn("other worker processes on this host write this SQLite file while each schedules on every CPU: "+
		"they slow each other down unless each gets its share; set --cpus to the CPUs divided by the processes (docs/SCALE.md)",
		zap.Int("other_workers", n), zap.Int("gomaxprocs", procs), zap.Int("cpus", runtime.NumCPU()),
		zap.Int("suggested_cpus", max(1, runtime.NumCPU()/(n+1))))
}

// otherWorkers counts the worker processes of host other than pid that
// the registry of s lists as live at now, over every pool.
func otherWorkers(ctx context.Context, s taskstate.Store, host string, pid int, now time.Time) (int, error) {
	pools, err := s.ListPools(ctx)
	if err != nil {
		return 0, err
	}
	seen := map[int]bool{}
	for _, p := range pools {
		ws, err := s.ListWorkers(ctx, taskstate.ListWorkersParams{Pool: p, Now: now})
		if err != nil {
			return 0, err
		}
		for _, w := range ws {
			if w.Host == host && w.PID != pid {
				seen[w.PID] = true
			}
		}
	}
	return len(seen), nil
}
