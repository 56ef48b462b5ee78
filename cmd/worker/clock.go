package main

import (
	"time"

	"github.com/taskfleet/taskfleet/internal/cli"
)

// clockOffsetEnv is a test hook: a duration (e.g. "1h" or "-1h") added to
// the worker's own clock, to show that a worker whose clock is off leases
// by the store's clock all the same. The store's time is never taken from
// this clock.
const clockOffsetEnv = "TASKFLEET_TEST_CLOCK_OFFSET"

// testClock returns the worker's clock: time.Now shifted by the offset in
// clockOffsetEnv, or nil (the default clock) when it is unset.
func testClock(getenv func(string) string) (func() time.Time, error) {
	v := getenv(clockOffsetEnv)
	if v == "" {
		return nil, nil
	}
	off, err := time.ParseDuration(v)
	if err != nil {
		return nil, cli.Usagef("%s=%q: not a duration: %v", clockOffsetEnv, v, err)
	}
	return func() time.Time { return time.Now().Add(off) }, nil
}
