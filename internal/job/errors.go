package job

import (
	"errors"
	"fmt"
	"strings"

	"github.com/taskfleet/taskfleet/internal/yamlpos"
)

// FieldError is a configuration error at a value of the file:
// "invalid job config: run.yaml:12: collect.group: unknown group". It wraps
// ErrInvalidConfig and the reason.
type FieldError struct {
	// File is the config file; Line the value's line, 0 when unknown.
	File string
	Line int
	// Path is the value's path in the document; empty for the file as a
	// whole.
	Path yamlpos.Path
	// Err is the reason.
	Err error
}

// Error implements error.
func (e *FieldError) Error() string {
	where := yamlpos.Where(e.File, e.Line)
	if len(e.Path) > 0 {
		where += ": " + e.Path.String()
	}
	return fmt.Sprintf("%v: %s: %v", ErrInvalidConfig, where, e.Err)
}

// Unwrap returns ErrInvalidConfig and the reason, so errors.Is matches both.
func (e *FieldError) Unwrap() []error { return []error{ErrInvalidConfig, e.Err} }

// yamlErr converts an error parsing or decoding file into a *FieldError at
// the token it names, or a file-level error when it names none. pos may be
// nil (a parse error).
func yamlErr(file string, pos *yamlpos.File, err error) error {
	tk, msg, ok := yamlpos.ErrorToken(err)
	if !ok {
		return fmt.Errorf("%w: %s: %w", ErrInvalidConfig, file, err) // such as yamlpos.ErrTooComplex
	}
	if tk == nil || tk.Position == nil {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, file, strings.TrimSpace(yamlpos.Message(err)))
	}
	path, _ := pos.PathOf(tk)
	return &FieldError{File: file, Line: tk.Position.Line, Path: path, Err: errors.New(msg)}
}
