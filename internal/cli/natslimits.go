package cli

import (
	"github.com/taskfleet/taskfleet/pkg/events"
)

// NATSLimits are the limits of the event streams, applied by every process
// that connects to NATS (existing streams are updated to them). Zero means
// the default.
type NATSLimits struct {
	// MaxBytes caps each stream's storage. Default 256 MiB
	// (events.DefaultStreamMaxBytes).
	MaxBytes int
	// MaxMsgs caps each stream's message count. Default 1,000,000.
	MaxMsgs int
	// MaxMsgSize caps one message. Default 4 KiB.
	MaxMsgSize int
}

func (l *NATSLimits) register(fs *FlagSet) {
	fs.IntVar(&l.MaxBytes, "nats-max-bytes", "TASKFLEET_NATS_MAX_BYTES", 0, "storage limit of each event stream in bytes; the oldest events go first (0: 256 MiB)")
	fs.IntVar(&l.MaxMsgs, "nats-max-msgs", "TASKFLEET_NATS_MAX_MSGS", 0, "message limit of each event stream (0: 1,000,000)")
	fs.IntVar(&l.MaxMsgSize, "nats-max-msg-size", "TASKFLEET_NATS_MAX_MSG_SIZE", 0, "largest message the event streams accept, in bytes (0: 4 KiB)")
}

func (l *NATSLimits) validate(fs *FlagSet) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"nats-max-bytes", l.MaxBytes}, {"nats-max-msgs", l.MaxMsgs}, {"nats-max-msg-size", l.MaxMsgSize}} {
		if f.v < 0 {
			return Usagef("%s: must not be negative, got %d", fs.Where(f.name), f.v)
		}
	}
	if err := events.ValidateStreamLimits(int64(l.MaxBytes), int64(l.MaxMsgs), int64(l.MaxMsgSize)); err != nil {
		return Usagef("%s: %v", fs.Where("nats-max-msg-size"), err)
	}
	return nil
}

// Apply sets the limits on cfg.
func (l NATSLimits) Apply(cfg *events.Config) {
	cfg.StreamMaxBytes, cfg.StreamMaxMsgs, cfg.StreamMaxMsgSize = int64(l.MaxBytes), int64(l.MaxMsgs), int32(l.MaxMsgSize) //nolint:gosec // range checked by validate
}
