package cli

import (
	"errors"
	"fmt"
)

// Exit codes shared by both binaries.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the operation failed
	ExitUsage   = 2 // bad flags, configuration or input: the message names what and where
	ExitTimeout = 3 // wait timed out
)

// ErrUsage marks an error that is the user's input: the binaries exit 2.
var ErrUsage = errors.New("usage")

// UsageError is an error in the user's input.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrUsage) true.
func (e *UsageError) Unwrap() error { return ErrUsage }

// Usagef returns a *UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}
