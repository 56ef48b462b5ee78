package taskstate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

type (
	taskKey      struct{}
	artifactsKey struct{}
)

// ErrNoAttempt means Artifacts was called on a context that is not a running
// attempt's, or after the attempt's handler returned.
var ErrNoAttempt = errors.New("taskstate: no running attempt: artifacts are stored by a handler while a Runner runs it")

// ArtifactWriter stores the artifacts of the attempt a handler runs and
// reads the task's committed ones.
type ArtifactWriter interface {
	// Put streams body into the artifact name (see ValidateArtifactName)
	// of this attempt, replacing one this attempt put under the same name.
	// The attempt's artifacts become the task's when its result is
	// committed, and are discarded if it fails, is cancelled or loses its
	// lease. Over the runner's ArtifactLimits the error wraps both
	// ErrArtifactTooLarge and ErrPermanent: returned by the handler, it
	// fails the task for good. Put must return before the handler does.
	Put(name string, body io.Reader) (Artifact, error)
	// Open reads the task's committed artifact name: in phase two, the
	// ones phase one stored. The caller closes it.
	Open(name string) (io.ReadCloser, Artifact, error)
}

// Artifacts returns the artifact writer of the attempt ctx runs (the
// context a Runner passes to a handler). Elsewhere every Put fails with
// ErrNoAttempt.
func Artifacts(ctx context.Context) ArtifactWriter {
	if a, ok := ctx.Value(artifactsKey{}).(*attemptArtifacts); ok {
		return a
	}
	return (*attemptArtifacts)(nil)
}

// attemptArtifacts is an attempt's ArtifactWriter, bound to its lease and
// its handler's context (which ends when the lease is lost).
type attemptArtifacts struct {
	ctx context.Context
	m   *Manager
	t   *Task
	lim ArtifactLimits

	mu     sync.Mutex
	used   bool // a Put was started: there may be staged artifacts
	closed bool // the handler returned
}

func withArtifacts(ctx context.Context, m *Manager, t *Task, lim ArtifactLimits) (context.Context, *attemptArtifacts) {
	a := &attemptArtifacts{m: m, t: t, lim: lim}
	a.ctx = context.WithValue(ctx, artifactsKey{}, a)
	return a.ctx, a
}

func (a *attemptArtifacts) Put(name string, body io.Reader) (Artifact, error) {
	if a == nil {
		return Artifact{}, ErrNoAttempt
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return Artifact{}, fmt.Errorf("%w: artifact %q put after the handler of task %s returned", ErrNoAttempt, name, a.t.ID)
	}
	a.used = true
	a.mu.Unlock()
	art, err := a.m.StageArtifact(a.ctx, a.t, name, body, a.lim)
	if errors.Is(err, ErrArtifactTooLarge) {
		return Artifact{}, Permanent(err)
	}
	return art, err
}

func (a *attemptArtifacts) Open(name string) (io.ReadCloser, Artifact, error) {
	if a == nil {
		return nil, Artifact{}, ErrNoAttempt
	}
	return a.m.OpenArtifact(a.ctx, a.t.ID, name)
}

// close ends the writer when the handler has returned and reports whether
// anything may have been staged.
func (a *attemptArtifacts) close() (used bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	return a.used
}

// WithTask returns ctx carrying the running task, for handlers that need
// more than their def (the attempt number, the id).
func WithTask(ctx context.Context, t *Task) context.Context {
	return context.WithValue(ctx, taskKey{}, t)
}

// TaskFromContext returns the task a handler is running, or nil.
func TaskFromContext(ctx context.Context) *Task {
	t, _ := ctx.Value(taskKey{}).(*Task)
	return t
}

// Handle adapts a typed function to a HandlerFunc: the task's def (or
// phase-one result) is converted to D — directly when it was stored as a D,
// through JSON when it was stored as a document — and the returned R is the
// result to commit. A param that does not convert fails the task at once
// (the error wraps ErrDecode), as does an error fn makes with Permanent;
// any other error is retried. D and R are registered with gob.
func Handle[D, R any](fn func(ctx context.Context, def D) (R, error)) HandlerFunc {
	var d D
	var r R
	// Errors are ignored: D or R may be an interface type (nothing to
	// register), and a name held by another type keeps its first
	// registration; Convert still turns documents into D.
	_ = RegisterType(d)
	_ = RegisterType(r)
	return func(ctx context.Context, t *Task, param any) (any, error) {
		def, err := Convert[D](param)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", t.ID, err)
		}
		return fn(WithTask(ctx, t), def)
	}
}
