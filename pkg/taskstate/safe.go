package taskstate

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// ErrPanic is wrapped by the error a recovered handler panic becomes.
var ErrPanic = errors.New("taskstate: handler panicked")

// PanicError is a recovered panic of a handler.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap lets errors.Is(err, ErrPanic) match.
func (e *PanicError) Unwrap() error { return ErrPanic }

// Call runs fn and turns a panic into a *PanicError.
func Call[T any](fn func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn()
}

// HandlerFunc runs one claimed task. param is the decoded def (or, for a
// task claimed from part_done, the decoded phase-one result).
type HandlerFunc func(ctx context.Context, t *Task, param any) (res any, err error)

// RunOne claims one task and runs fn on it: Qlib's safe_fetch_task plus
// run_task's body, made safe. It returns ran=false when nothing was
// claimable. On success the result is committed to `to` (default done). On
// an error or a panic the task is returned (retried after a backoff, or
// failed when its attempts are spent) and the error is returned. When ctx
// is cancelled while fn runs, the task is released without counting the
// attempt. A payload that does not decode, or an error made with
// Permanent, fails the task at once.
func (m *Manager) RunOne(ctx context.Context, opts ClaimOptions, to Status, fn HandlerFunc) (ran bool, err error) {
	opts.Limit = 1
	tasks, err := m.Claim(ctx, opts)
	if err != nil || len(tasks) == 0 {
		return false, err
	}
	t := tasks[0]
	// The task must go back even if ctx is done; give that write its own time.
	bg := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	}
	param, err := m.Param(t)
	if err != nil {
		wctx, cancel := bg()
		defer cancel()
		return true, errors.Join(err, m.Fail(wctx, t, err))
	}
	res, err := Call(func() (any, error) { return fn(ctx, t, param) })
	if err == nil {
		return true, m.Commit(ctx, t, res, to)
	}
	wctx, cancel := bg()
	defer cancel()
	if ctx.Err() != nil && !errors.Is(err, ErrPanic) {
		return true, errors.Join(err, m.Release(wctx, t))
	}
	if IsPermanent(err) {
		return true, errors.Join(err, m.Fail(wctx, t, err))
	}
	_, rerr := m.Return(wctx, t, err)
	return true, errors.Join(err, rerr)
}
