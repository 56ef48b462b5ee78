package rolling

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. The package wraps them with detail (the file and line, or
// the dotted path of the offending value); test with errors.Is.
var (
	// ErrInvalidConfig: a configuration value is wrong (an unknown generator
	// type, a step ≤ 0, an unparsable date, a bad calendar file line, a
	// segment outside the calendar, ...). Every error returned by
	// LoadGenConfig, ParseGenConfig, (*GenConfig).Build, LoadCalendar and
	// ReadCalendar wraps it, and so do the errors of generators whose own
	// settings are invalid. The dispatcher maps it to exit code 2.
	ErrInvalidConfig = errors.New("rolling: invalid configuration")

	// ErrInvalidTemplate: a task template cannot be expanded, in the places
	// where Qlib would raise (a missing or malformed segment, an open end
	// where a date is needed, a truncation below calendar index 1, ...). The
	// error is a *PathError naming the dotted path inside the template.
	ErrInvalidTemplate = errors.New("rolling: invalid task template")

	// ErrOutOfCalendar: a date lies outside the trading calendar where Qlib
	// would raise an IndexError or silently wrap around to the last day.
	ErrOutOfCalendar = errors.New("rolling: date outside the calendar")
)

// PathError reports a problem with the value at a dotted path inside a task
// document, such as "dataset.kwargs.segments.test.0". It wraps
// ErrInvalidTemplate and the reason.
type PathError struct {
	// Path is the dotted path of the offending value inside the task.
	Path string
	// Err is the reason.
	Err error
}

// Error implements error.
func (e *PathError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns ErrInvalidTemplate and the reason, so errors.Is matches both.
func (e *PathError) Unwrap() []error { return []error{ErrInvalidTemplate, e.Err} }

// pathErrorf returns a *PathError for path with a formatted reason.
func pathErrorf(path, format string, args ...any) error {
	return &PathError{Path: path, Err: fmt.Errorf(format, args...)}
}

// ConfigError reports a bad configuration value together with where it was
// written: "config.yaml:7: generators[0].step: must be > 0, got 0". It wraps
// ErrInvalidConfig and the reason.
type ConfigError struct {
	// File is the name of the file holding the value; empty when unknown.
	File string
	// Line is the 1-based line of the value in File; 0 when unknown.
	Line int
	// Path is the path of the value inside the document in YAML-path style
	// without the leading "$.", e.g. "generators[0].step"; empty for errors
	// about the file as a whole (a bad calendar line, a YAML syntax error).
	Path string
	// Err is the reason.
	Err error
}

// Error implements error.
func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns ErrInvalidConfig and the reason, so errors.Is matches both.
func (e *ConfigError) Unwrap() []error { return []error{ErrInvalidConfig, e.Err} }

// GenerateError is returned by Generate when a generator fails on a task. It
// records which template the task came from and which generator failed, so
// that callers (such as (*GenConfig).Build) can point at the template.
type GenerateError struct {
	// Template is the index of the template the failing task derives from.
	Template int
	// Generator is the index of the failing generator, or -1 when
	// Following failed on existing task Template.
	Generator int
	// Err is the generator's error, usually a *PathError.
	Err error
}

// Error implements error.
func (e *GenerateError) Error() string {
	if e.Generator < 0 {
		return fmt.Sprintf("existing task %d: %v", e.Template, e.Err)
	}
	return fmt.Sprintf("template %d: generator %d: %v", e.Template, e.Generator, e.Err)
}

// Unwrap returns the generator's error.
func (e *GenerateError) Unwrap() error { return e.Err }

// invalidf returns an error wrapping ErrInvalidConfig for a bad generator
// setting, e.g. invalidf("Step", "must be > 0, got %d", -1).
func invalidf(field, format string, args ...any) error {
	return &ConfigError{Path: field, Err: fmt.Errorf(format, args...)}
}
