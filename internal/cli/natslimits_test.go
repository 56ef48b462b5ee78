package cli

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/taskfleet/taskfleet/pkg/events"
)

func TestNATSLimits(t *testing.T) {
	parse := func(env map[string]string, args ...string) (Common, error) {
		var c Common
		fs := NewFlagSet("worker", func(k string) string { return env[k] }, io.Discard)
		c.Register(fs)
		if _, err := fs.Parse(args); err != nil {
			return c, err
		}
		err := c.Validate()
		return c, err
	}
	c, err := parse(map[string]string{"TASKFLEET_NATS_MAX_MSGS": "5000", "TASKFLEET_NATS_REPLICAS": "3"}, "--nats-max-bytes", "1048576")
	if err != nil {
		t.Fatal(err)
	}
	var cfg events.Config
	c.NATSLimits.Apply(&cfg)
	if cfg.StreamMaxBytes != 1<<20 || cfg.StreamMaxMsgs != 5000 || cfg.StreamMaxMsgSize != 0 {
		t.Fatalf("limits %d, %d, %d", cfg.StreamMaxBytes, cfg.StreamMaxMsgs, cfg.StreamMaxMsgSize)
	}
	if cfg.Replicas != 3 {
		t.Fatalf("replicas %d, want 3 from TASKFLEET_NATS_REPLICAS", cfg.Replicas)
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--nats-max-msgs", "-1"}, "--nats-max-msgs: must not be negative, got -1"},
		{map[string]string{"TASKFLEET_NATS_MAX_BYTES": "-5"}, nil, "TASKFLEET_NATS_MAX_BYTES: must not be negative, got -5"},
		{nil, []string{"--nats-max-bytes", "1024", "--nats-max-msg-size", "4096"}, "--nats-max-msg-size: events: invalid configuration: Config.StreamMaxMsgSize 4096 is larger than Config.StreamMaxBytes 1024"},
		{nil, []string{"--nats-max-msg-size", "4294967296"}, "--nats-max-msg-size"},
		{nil, []string{"--nats-replicas", "6"}, "--nats-replicas: must be 0 to 5, got 6"},
		{map[string]string{"TASKFLEET_NATS_REPLICAS": "-1"}, nil, "TASKFLEET_NATS_REPLICAS: must be 0 to 5, got -1"},
	} {
		_, err := parse(tc.env, tc.args...)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: %v; want a usage error containing %q", tc.env, tc.args, err, tc.want)
		}
	}
}
