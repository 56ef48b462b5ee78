package taskstate

import (
	"context"
	"fmt"
)

type taskKey struct{}

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
