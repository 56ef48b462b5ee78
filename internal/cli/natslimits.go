package cli

import (
	"github.com/taskfleet/taskfleet/pkg/events"
)

// NATSLimits are the limits and the replication of the event streams,
// applied by every process that connects to NATS (existing streams are
// updated to them). Zero means the default.
type NATSLimits struct {
	// MaxBytes caps each stream's storage. Default 256 MiB
	// (events.DefaultStreamMaxBytes).
	MaxBytes int
	// MaxMsgs caps each stream's message count. Default 1,000,000.
	MaxMsgs int
	// MaxMsgSize caps one message. Default 4 KiB.
	MaxMsgSize int
	// Replicas is each stream's replica count in a JetStream cluster,
	// 1 to 5 (JetStream's most). Default 1; a cluster of three nodes
	// keeps its events through the loss of one node at 3.
	Replicas int
}

// MaxNATSReplicas is the most replicas JetStream keeps of a stream.
const MaxNATSReplicas = 5

func (l *NATSLimits) register(fs *FlagSet) {
	fs.IntVar(&l.MaxBytes, "nats-max-bytes", "TASKFLEET_NATS_MAX_BYTES", 0, "storage limit of each event stream in bytes; the oldest events go first (0: 256 MiB)")
	fs.IntVar(&l.MaxMsgs, "nats-max-msgs", "TASKFLEET_NATS_MAX_MSGS", 0, "message limit of each event stream (0: 1,000,000)")
	fs.IntVar(&l.MaxMsgSize, "nats-max-msg-size", "TASKFLEET_NATS_MAX_MSG_SIZE", 0, "largest message the event streams accept, in bytes (0: 4 KiB)")
	fs.IntVar(&l.Replicas, "nats-replicas", "TASKFLEET_NATS_REPLICAS", 0, "replicas of each event stream in a JetStream cluster, 1 to 5 (0: 1; 3 on a cluster of three nodes survives losing one)")
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
	if l.Replicas < 0 || l.Replicas > MaxNATSReplicas {
		return Usagef("%s: must be 0 to %d, got %d", fs.Where("nats-replicas"), MaxNATSReplicas, l.Replicas)
	}
	if err := events.ValidateStreamLimits(int64(l.MaxBytes), int64(l.MaxMsgs), int64(l.MaxMsgSize)); err != nil {
		return Usagef("%s: %v", fs.Where("nats-max-msg-size"), err)
	}
	return nil
}

// Apply sets the limits and replicas on cfg.
func (l NATSLimits) Apply(cfg *events.Config) {
	cfg.Replicas = l.Replicas
	cfg.StreamMaxBytes, cfg.StreamMaxMsgs, cfg.StreamMaxMsgSize = int64(l.MaxBytes), int64(l.MaxMsgs), int32(l.MaxMsgSize) //nolint:gosec // range checked by validate
}
