package taskstate

import "errors"

// ErrPermanent is matched, with errors.Is, by every error made with
// Permanent.
var ErrPermanent = errors.New("taskstate: permanent failure")

// PermanentError is a handler error that no retry can mend (see Permanent).
type PermanentError struct {
	Err error
}

// Error is the wrapped error's message, unchanged: it is what the task's
// last_error records.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *PermanentError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrPermanent) match.
func (e *PermanentError) Is(target error) bool { return target == ErrPermanent }

// Permanent marks err as one that no retry can mend, such as a def a
// handler cannot use: the Runner (and Manager.RunOne) moves the task to
// failed at once instead of returning it for another attempt, whatever
// attempts it has left. The message recorded is err's own. Permanent(nil)
// is nil.
//
//	if def.Window <= 0 {
//		return nil, taskstate.Permanent(fmt.Errorf("window %d: want > 0", def.Window))
//	}
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, was made with
// Permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// noRetry reports whether the Runner fails a run's error at once: the
// handler said so with Permanent, the task's payload does not decode (the
// codec's ErrDecode, which Handle passes on when a def does not convert),
// or its artifacts are over their limit (the same def would write them
// again).
func noRetry(err error) bool {
	return IsPermanent(err) || errors.Is(err, ErrDecode) || errors.Is(err, ErrArtifactTooLarge)
}
