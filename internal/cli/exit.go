package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/taskfleet/taskfleet/internal/redact"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Exit codes shared by both binaries.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the operation failed
	ExitUsage   = 2 // bad flags, configuration or input: the message names what and where
	ExitTimeout = 3 // wait timed out
	ExitFailed  = 4 // wait: every task finished, but some failed
)

// ErrTasksFailed is returned by wait when every task it waited for is
// terminal but some are failed: the binaries exit 4.
var ErrTasksFailed = errors.New("some tasks failed")

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

// Exit reports err on stderr as "prog: err" (credentials redacted) and
// returns the exit code both binaries use: 0 for success or --help, 3 for a
// wait timeout, 4 for a wait whose tasks ended failed, 2 for bad input
// (flags, configuration, queries, statuses, pools, task specs, a missing
// store file or pool of a read command), 1 for any other failure.
func Exit(stderr io.Writer, prog string, err error) int {
	return ExitFormat(stderr, prog, err, "", nil)
}

// ExitFormat is Exit for a program whose --log-format is logFormat and
// whose flags carry the secrets r knows (nil: none): with "json" the error
// is a JSON log record, so that stderr stays JSON lines.
func ExitFormat(stderr io.Writer, prog string, err error, logFormat string, r *redact.Redactor) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	// Flag errors already start with the command's name ("worker: …",
	// "dispatcher create: …"): one prefix is enough.
	msg := err.Error()
	if !strings.HasPrefix(msg, prog+":") && !strings.HasPrefix(msg, prog+" ") {
		msg = prog + ": " + msg
	}
	if logFormat == "json" {
		log, _ := NewLogger(stderr, "error", "json", r) // valid level and format: no error
		log.Error(msg)
	} else {
		fmt.Fprintf(r.Writer(stderr), "%s\n", msg)
	}
	return exitCode(err)
}

func exitCode(err error) int {
	switch {
	case errors.Is(err, taskstate.ErrWaitTimeout):
		return ExitTimeout
	case errors.Is(err, ErrTasksFailed):
		return ExitFailed
	case errors.Is(err, ErrUsage), errors.Is(err, taskstate.ErrInvalidQuery), errors.Is(err, taskstate.ErrEmptyQuery),
		errors.Is(err, taskstate.ErrInvalidStatus), errors.Is(err, taskstate.ErrInvalidPool), errors.Is(err, taskstate.ErrInvalidTask):
		return ExitUsage
	}
	return ExitFailure
}

// Recover is deferred by a program's Run: it turns a panic of the command
// into a report on stderr with credentials redacted (the panic value and the
// stack may quote a URI) and exit code 1 in *code. A panic of another
// goroutine still crashes the program: only the runtime sees it.
func Recover(stderr io.Writer, prog string, code *int) {
	r := recover()
	if r == nil {
		return
	}
	fmt.Fprintf(redact.New(nil).Writer(stderr), "%s: panic: %v\n\n%s\n", prog, r, debug.Stack())
	*code = ExitFailure
}
