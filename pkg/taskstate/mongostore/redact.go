package mongostore

import (
	"context"
	"errors"

	"github.com/taskfleet/taskfleet/internal/redact"
)

// Redact returns uri with its credentials replaced by "***", so it can be
// logged or put in an error: "mongodb://user:pw@host/db" becomes
// "mongodb://***@host/db". The values of options that hold secrets (such as
// tlsCertificateKeyFilePassword or authMechanismProperties) are replaced
// as well. A URI without credentials is returned unchanged.
//
// It errs on the side of hiding: the user information ends at the last "@"
// of the URI, so a password with an unescaped "@", "/" or "?" is hidden
// whole, at the price of hiding more than the credentials when an option
// value contains an "@". It is redact.URI, taskfleet's one redactor.
func Redact(uri string) string { return redact.URI(uri) }

// scrubber removes a URI's secrets from text: the URI itself, the
// credentials of any URI and the URI's secrets quoted on their own.
type scrubber struct{ r *redact.Redactor }

func newScrubber(uri string) scrubber { return scrubber{r: redact.New([]string{uri})} }

// text returns s with the URI redacted and every secret replaced by "***".
func (sc scrubber) text(s string) string { return sc.r.String(s) }

// scrubbedError is an error whose message went through a scrubber. It
// unwraps to cause, which may be nil when the original error is not safe
// to expose (its message could hold the URI).
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

// wrap returns an error reading "<prefix>: <err>" with every secret of the
// URI removed. It unwraps to err so that errors.Is and errors.As keep
// working (mongo.IsTimeout, context.DeadlineExceeded, taskstate sentinels).
func (sc scrubber) wrap(prefix string, err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: sc.text(prefix + ": " + err.Error()), cause: err}
}

// wrapOpaque is wrap for errors whose chain may hold the URI (parsing and
// connecting): the result unwraps only to a context error, never to the
// driver's error.
func (sc scrubber) wrapOpaque(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var cause error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		cause = context.Canceled
	}
	return &scrubbedError{msg: sc.text(prefix + ": " + err.Error()), cause: cause}
}
