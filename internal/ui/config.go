package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var (
	// ErrNotSupported is returned by a Pool method this build lacks.
	ErrNotSupported = errors.New("not available in this build")
	// ErrTokenRequired is CheckListen's refusal of a non-loopback address
	// without a token.
	ErrTokenRequired = errors.New("a non-loopback address requires a token")
)

// Backend lists and opens pools.
type Backend interface {
	ListPools(ctx context.Context) ([]string, error)
	// Pool returns the pool named name; an invalid name is an error
	// wrapping taskstate.ErrInvalidPool.
	Pool(name string) (Pool, error)
}

// Pool is what the console reads of one pool and does to it. The read
// methods are taskstate.Manager's.
type Pool interface {
	Stat(ctx context.Context, q taskstate.Query) (taskstate.Counts, error)
	Query(ctx context.Context, q taskstate.Query, opts taskstate.QueryOptions) iter.Seq2[*taskstate.Task, error]
	Get(ctx context.Context, id string) (*taskstate.Task, error)
	DecodeDef(t *taskstate.Task) (any, error)
	DecodeRes(t *taskstate.Task) (any, error)
	Logs(ctx context.Context, id string, phase taskstate.Status, attempt int) ([]taskstate.TaskLog, error)
	Artifacts(ctx context.Context, id string) ([]taskstate.Artifact, error)
	CopyArtifact(ctx context.Context, id, name string, w io.Writer) (taskstate.Artifact, error)
	// Paused reports whether workers stop claiming from the pool, or
	// ErrNotSupported.
	Paused(ctx context.Context) (bool, error)
	Actions
}

// Actions are the changes the console makes when Config.AllowActions is
// set. Each returns how many tasks matched.
type Actions interface {
	// RetryFailed moves the failed tasks matching q back to waiting.
	RetryFailed(ctx context.Context, q taskstate.Query) (int64, error)
	// Cancel ends the tasks matching q as failed with reason (or
	// ErrNotSupported).
	Cancel(ctx context.Context, q taskstate.Query, reason string) (int64, error)
	// Prioritize sets the priority of the tasks matching q.
	Prioritize(ctx context.Context, q taskstate.Query, priority int) (int64, error)
	// Remove deletes the tasks matching q (never the whole pool).
	Remove(ctx context.Context, q taskstate.Query) (int64, error)
}

// History reads a pool's event history; *events.Conn implements it.
type History interface {
	History(ctx context.Context, p events.HistoryParams, fn func(events.Record) error) error
}

// Config configures a Server.
type Config struct {
	// Backend reads and changes the pools. Required.
	Backend Backend
	// History feeds the activity feed and live updates. Default nil: no
	// feed, the page refreshes every Refresh.
	History History
	// AllowActions turns on retry, cancel, prioritize and remove. Default
	// false: read-only.
	AllowActions bool
	// Token, when set, is required of every request (bearer or login
	// cookie). Default empty: no login (loopback only, see CheckListen).
	Token string
	// Refresh is how often the page refreshes without live updates.
	// Default 5 s.
	Refresh time.Duration
	// FeedWindow is how far back the activity feed starts. Default 1 h
	// (what the stream keeps).
	FeedWindow time.Duration
	// ThroughputWindow is the span throughput is measured over, from the
	// counts the console sampled. Default 5 min.
	ThroughputWindow time.Duration
	// Logger logs refused requests and failed reads. Default: no logs.
	Logger *zap.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() (Config, error) {
	if c.Backend == nil {
		return c, errors.New("ui: Config.Backend is required")
	}
	if c.Refresh <= 0 {
		c.Refresh = 5 * time.Second
	}
	if c.FeedWindow <= 0 {
		c.FeedWindow = events.StreamMaxAge
	}
	if c.ThroughputWindow <= 0 {
		c.ThroughputWindow = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// CheckListen validates a listen address: host:port, and a loopback host
// (127.0.0.0/8, ::1, localhost) unless a token protects the console.
func CheckListen(addr string, haveToken bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port: %w", addr, err)
	}
	if haveToken || loopback(host) {
		return nil
	}
	return fmt.Errorf("%w: %q is not loopback; give --token-file or listen on 127.0.0.1", ErrTokenRequired, addr)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
