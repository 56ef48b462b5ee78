package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/taskfleet/taskfleet/internal/bench"
	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// fanoutFlags are the flags of the bench's fanout scenario.
type fanoutFlags struct {
	workers     string
	tasks       int
	concurrency int
	idle        time.Duration
	eventPoll   time.Duration
}

func (f *fanoutFlags) register(fs *cli.FlagSet) {
	fs.StringVar(&f.workers, "fanout-workers", "", "4,32,128", "fanout: comma-separated fleet sizes (worker processes, 1 to 1000)")
	fs.IntVar(&f.tasks, "fanout-tasks", "", bench.DefaultFanoutTasks, "fanout: tasks created one at a time per fleet size")
	fs.IntVar(&f.concurrency, "fanout-concurrency", "", bench.DefaultFanoutConcurrency, "fanout: each worker's --concurrency")
	fs.DurationVar(&f.idle, "fanout-idle", "", bench.DefaultFanoutIdle, "fanout: how long the idle fleet is measured before the tasks")
	fs.DurationVar(&f.eventPoll, "fanout-event-poll", "", taskstate.DefaultEventPollInterval, "fanout: each worker's --event-poll-interval (its poll while wake-ups flow)")
}

// config validates the flags and returns the scenario's configuration.
func (f *fanoutFlags) config(fs *cli.FlagSet) (bench.FanoutConfig, error) {
	c := bench.FanoutConfig{Tasks: f.tasks, Concurrency: f.concurrency, Idle: f.idle, EventPoll: f.eventPoll}
	for _, s := range strings.Split(f.workers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 1000 {
			return c, cli.Usagef("%s: %q: want comma-separated fleet sizes of 1 to 1000", fs.Where("fanout-workers"), s)
		}
		c.Workers = append(c.Workers, n)
	}
	if f.tasks < 1 || f.concurrency < 1 || f.idle <= 0 || f.eventPoll <= 0 {
		return c, cli.Usagef("%s, %s, %s and %s must be positive", fs.Where("fanout-tasks"), fs.Where("fanout-concurrency"), fs.Where("fanout-idle"), fs.Where("fanout-event-poll"))
	}
	return c, nil
}
