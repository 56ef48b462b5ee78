package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Noop returns its def unchanged.
func Noop(_ context.Context, _ *taskstate.Task, param any) (any, error) { return param, nil }

// SleepDef is the def of the sleep kind:
//
//	{"duration": "30ms", "fail_attempts": 0, "panic": false}
type SleepDef struct {
	// Duration is how long to sleep, a Go duration. Default 0.
	Duration string `json:"duration"`
	// FailAttempts makes the task fail while its attempt number is at most
	// this. Default 0: never fail.
	FailAttempts int `json:"fail_attempts"`
	// Panic makes the handler panic after sleeping.
	Panic bool `json:"panic"`
}

// SleepResult is what the sleep kind commits.
type SleepResult struct {
	Slept   string `json:"slept"`
	Attempt int    `json:"attempt"`
	Worker  string `json:"worker"` // the lease owner that ran it
}

// Sleep sleeps for the def's duration (returning early when its context is
// cancelled), then fails, panics or succeeds as the def says.
func Sleep(ctx context.Context, def SleepDef) (SleepResult, error) {
	d, err := time.ParseDuration(def.Duration)
	if def.Duration == "" {
		d, err = 0, nil
	}
	if err != nil || d < 0 {
		return SleepResult{}, taskstate.Permanent(fmt.Errorf("sleep: duration %q: want a Go duration such as 30ms", def.Duration))
	}
	if d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return SleepResult{}, context.Cause(ctx)
		case <-timer.C:
		}
	}
	attempt, worker := 0, ""
	if t := taskstate.TaskFromContext(ctx); t != nil {
		attempt, worker = t.Attempts, t.Lease.Owner
	}
	if def.Panic {
		panic(fmt.Sprintf("sleep: panic requested by the def (attempt %d)", attempt))
	}
	if attempt <= def.FailAttempts {
		return SleepResult{}, fmt.Errorf("sleep: failure requested by the def (attempt %d of fail_attempts %d)", attempt, def.FailAttempts)
	}
	return SleepResult{Slept: d.String(), Attempt: attempt, Worker: worker}, nil
}

// Builtins returns the noop and sleep kinds (All adds linear).
func Builtins() map[string]taskstate.HandlerFunc {
	return map[string]taskstate.HandlerFunc{
		"noop":  Noop,
		"sleep": taskstate.Handle(Sleep),
	}
}
