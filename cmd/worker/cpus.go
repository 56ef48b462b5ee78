package main

import (
	"runtime"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// cpuAdvice warns, once, when the worker shares its SQLite file with
// another process's writer while Go schedules it on every CPU. Go's
// default assumes one process per machine: four worker processes on two
// cores then run up to eight threads, and the one holding the file's
// writer is descheduled while the others' tasks run. Four such processes
// reached a median 0.81 of one process's rate; given a CPU each (--cpus
// 1), 0.92 (docs/BENCHMARKS.md, round 12).
type cpuAdvice struct {
	store  taskstate.Shared // nil: a store that cannot tell (MongoDB)
	chosen bool             // --cpus or GOMAXPROCS was given
	log    *zap.Logger
	warned atomic.Bool
}

func newCPUAdvice(s taskstate.Store, chosen bool, log *zap.Logger) *cpuAdvice {
	sh, _ := s.(taskstate.Shared)
	return &cpuAdvice{store: sh, chosen: chosen, log: log}
}

// check warns if it is time to; the health monitor calls it on each check.
func (a *cpuAdvice) check() {
	if a.store == nil || a.chosen || a.warned.Load() {
		return
	}
	procs := runtime.GOMAXPROCS(0)
	if procs < 2 || procs < runtime.NumCPU() || !a.store.Shared() {
		return
	}
	a.warned.Store(true)
	a.log.Warn("another process writes this SQLite file while this worker schedules on every CPU: "+
		"worker processes that share a machine slow each other down unless each gets its share; "+
		"set --cpus to the CPUs divided by the processes (docs/SCALE.md)",
		zap.Int("gomaxprocs", procs), zap.Int("cpus", runtime.NumCPU()))
}
