package events

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of the stream limits (Config.StreamMaxBytes, StreamMaxMsgs and
// StreamMaxMsgSize). An event is about 60 bytes plus headers, so the
// defaults keep an hour of a busy fleet's history, and a flood of junk
// publishes displaces old events instead of filling a disk.
const (
	// DefaultStreamMaxBytes caps each stream's storage: 256 MiB.
	DefaultStreamMaxBytes int64 = 256 << 20
	// DefaultStreamMaxMsgs caps each stream's message count: 1,000,000.
	DefaultStreamMaxMsgs int64 = 1_000_000
	// DefaultStreamMaxMsgSize caps one message: 4 KiB. Events are tiny;
	// anything bigger on our subjects is junk and is refused.
	DefaultStreamMaxMsgSize int32 = 4 << 10
	// DefaultWorkFanout is the default Config.WorkFanout.
	DefaultWorkFanout = 64
)

// The work queue. See the package documentation.
const (
	// WorkStreamName is the work-queue stream that hands wake-ups to one
	// worker each.
	WorkStreamName = "TASKFLEET_WORK"
	// WorkSubjectPrefix is the first token of the work subjects,
	// "taskfleet-work.<pool>.<kind>". It differs from SubjectPrefix so the two
	// streams do not overlap, and the history stream stays a history.
	WorkSubjectPrefix = "taskfleet-work"
	// WorkMaxAge drops a wake-up nobody took: by then every worker has
	// polled.
	WorkMaxAge = time.Minute
	// WorkMaxPerPool bounds the wake-ups waiting in one queue (a kind of
	// a pool); a flood discards the oldest.
	WorkMaxPerPool = 1024
	// workAckWait is when a wake-up handed to a worker that died before
	// acking goes to another.
	workAckWait = 5 * time.Second
	// workMaxDeliver bounds how often one wake-up is offered to busy
	// workers before it is dropped (the poll covers it).
	workMaxDeliver = 4
	// workMaxWaiting is the most workers of one pool waiting at once.
	workMaxWaiting = 16384
	// workInactive removes the consumer of a pool no worker has pulled
	// from for this long.
	workInactive = time.Hour
)

// WorkSubject returns the subject of the work queue of kind in pool:
// "taskfleet-work.<pool>.<kind>", with the kind as kindToken writes it;
// kind "" is the pool's any-kind queue, "taskfleet-work.<pool>._".
func WorkSubject(pool, kind string) string {
	tok := anyKind
	if kind != "" {
		tok = kindToken(kind)
	}
	return WorkSubjectPrefix + "." + pool + "." + tok
}

// anyKind is the token of a pool's any-kind work queue. Kind tokens never
// start with '_' (see kindToken).
const anyKind = "_"

// maxKindToken is the longest kind used as is in subjects and consumer
// names.
const maxKindToken = 64

// kindToken returns kind as one token of a subject and a part of a
// consumer name: as is when it is 1-64 letters, digits, '-' or '_' and
// does not start with '_'; otherwise '_' and the first 32 hex digits of
// its SHA-256 (kinds are free text: programs name them).
func kindToken(kind string) string {
	plain := kind != "" && len(kind) <= maxKindToken && kind[0] != '_'
	for i := 0; plain && i < len(kind); i++ {
		c := kind[i]
		plain = c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	if plain {
		return kind
	}
	sum := sha256.Sum256([]byte(kind))
	return "_" + hex.EncodeToString(sum[:16])
}

// withLimits fills in the default limits, or returns an error naming the
// first bad field.
func (cfg Config) withLimits() (Config, error) {
	if cfg.StreamMaxBytes < 0 || cfg.StreamMaxMsgs < 0 || cfg.StreamMaxMsgSize < 0 || cfg.WorkFanout < 0 {
		return cfg, fmt.Errorf("%w: Config.StreamMaxBytes, StreamMaxMsgs, StreamMaxMsgSize and WorkFanout must not be negative", ErrInvalidConfig)
	}
	if cfg.StreamMaxBytes == 0 {
		cfg.StreamMaxBytes = DefaultStreamMaxBytes
	}
	if cfg.StreamMaxMsgs == 0 {
		cfg.StreamMaxMsgs = DefaultStreamMaxMsgs
	}
	if cfg.StreamMaxMsgSize == 0 {
		cfg.StreamMaxMsgSize = DefaultStreamMaxMsgSize
	}
	if int64(cfg.StreamMaxMsgSize) > cfg.StreamMaxBytes {
		return cfg, fmt.Errorf("%w: Config.StreamMaxMsgSize %d is larger than Config.StreamMaxBytes %d", ErrInvalidConfig, cfg.StreamMaxMsgSize, cfg.StreamMaxBytes)
	}
	if cfg.WorkFanout == 0 {
		cfg.WorkFanout = DefaultWorkFanout
	}
	return cfg, nil
}

// ValidateStreamLimits checks limits given as plain integers (flags) and
// returns an error naming the first that is out of range.
func ValidateStreamLimits(maxBytes, maxMsgs, maxMsgSize int64) error {
	cfg := Config{StreamMaxBytes: maxBytes, StreamMaxMsgs: maxMsgs}
	if maxMsgSize > math.MaxInt32 {
		return fmt.Errorf("%w: StreamMaxMsgSize %d is over %d", ErrInvalidConfig, maxMsgSize, math.MaxInt32)
	}
	cfg.StreamMaxMsgSize = int32(maxMsgSize)
	_, err := cfg.withLimits()
	return err
}

// WorkStreamConfig returns the configuration EnsureStream applies to the
// work-queue stream.
func (c *Conn) WorkStreamConfig() jetstream.StreamConfig {
	cfg := c.StreamConfig()
	cfg.Name = WorkStreamName
	cfg.Description = "taskfleet wake-ups: each goes to one idle worker of its pool; the task store is the truth"
	cfg.Subjects = []string{WorkSubjectPrefix + ".>"}
	cfg.Retention = jetstream.WorkQueuePolicy
	cfg.MaxAge = WorkMaxAge
	cfg.MaxMsgsPerSubject = WorkMaxPerPool
	cfg.Duplicates = 0
	// Wake-ups are hints worth nothing after a restart (every worker
	// claims on start): memory is faster, and pickup waits on it.
	cfg.Storage = jetstream.MemoryStorage
	return cfg
}

// workConsumerConfig is the durable pull consumer of one work queue of
// pool (a kind token, or anyKind), shared by the workers of that kind. The
// pool's length in the name keeps "work-<n>-<pool>-<token>" unique though
// pools and tokens may both contain '-'.
func workConsumerConfig(pool, token string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:           "work-" + strconv.Itoa(len(pool)) + "-" + pool + "-" + token,
		Description:       "taskfleet workers of pool " + pool + ", queue " + token,
		FilterSubject:     WorkSubjectPrefix + "." + pool + "." + token,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           workAckWait,
		MaxDeliver:        workMaxDeliver,
		MaxWaiting:        workMaxWaiting,
		MaxAckPending:     -1,
		InactiveThreshold: workInactive,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
	}
}
