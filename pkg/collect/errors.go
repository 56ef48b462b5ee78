package collect

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of these where one
// applies, so callers can test for them with errors.Is.
var (
	// ErrMissingArtifact means a task's result lacks a requested artifact and
	// PoolCollector.OnlyExist is false.
	ErrMissingArtifact = errors.New("collect: missing artifact")

	// ErrPathNotFound means a dotted path does not resolve in a document.
	ErrPathNotFound = errors.New("collect: path not found")

	// ErrNotCollection means a processor that needs a Collection got another
	// type.
	ErrNotCollection = errors.New("collect: value is not a Collection")

	// ErrNotFrame means an ensemble that needs prediction frames got another
	// type.
	ErrNotFrame = errors.New("collect: value is not a *Frame")

	// ErrEmpty means there is nothing to ensemble (Qlib: "No objects to
	// concatenate").
	ErrEmpty = errors.New("collect: nothing to ensemble")

	// ErrBadKey means a key does not have the shape a processor needs, such as
	// an empty tuple given to RollingGroup.
	ErrBadKey = errors.New("collect: bad key")

	// ErrDuplicateRow means a frame holds two rows for one (datetime,
	// instrument) pair where that is not allowed.
	ErrDuplicateRow = errors.New("collect: duplicate (datetime, instrument) row")

	// ErrNoLabel means a metric needs labels and the frame has none.
	ErrNoLabel = errors.New("collect: frame has no label")

	// ErrBadFile means a prediction or label file is malformed; the error is
	// a *ParseError naming the file and the line or row.
	ErrBadFile = errors.New("collect: bad prediction or label file")

	// ErrFileTooLarge means a prediction or label file is over its size or
	// row limit (ReadOptions).
	ErrFileTooLarge = errors.New("collect: file too large")

	// ErrNotConfigured means a required field (a Source, a GroupFunc, an
	// Ensemble, a processor) is nil.
	ErrNotConfigured = errors.New("collect: not configured")
)

// reason is an error that reads as its own message and matches a sentinel
// with errors.Is, for messages that already say what the sentinel says.
type reason struct {
	msg      string
	sentinel error
}

func (r *reason) Error() string { return r.msg }
func (r *reason) Unwrap() error { return r.sentinel }

func reasonf(sentinel error, format string, args ...any) error {
	return &reason{msg: fmt.Sprintf(format, args...), sentinel: sentinel}
}
