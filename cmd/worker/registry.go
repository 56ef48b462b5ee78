package main

import (
	"os"
	"runtime/debug"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// registryEntry is what this worker tells the pool's registry about
// itself; the runner fills in its id (the lease owner), kinds, concurrency
// and status, and renews it with each heartbeat.
func registryEntry() *taskstate.WorkerInfo {
	host, _ := os.Hostname()
	return &taskstate.WorkerInfo{Host: host, PID: os.Getpid(), Version: buildVersion(), StartedAt: time.Now()}
}

// buildVersion is the module version the binary was built from, or its VCS
// revision, or "devel".
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return "devel"
}
