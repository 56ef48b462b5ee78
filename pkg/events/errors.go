package events

import "errors"

// Sentinel errors. Every error this package returns for one of these
// conditions wraps the sentinel, so callers test with errors.Is and never
// import the NATS client to classify a failure.
var (
	// ErrInvalidConfig: a Config or EmbeddedConfig field is missing or wrong.
	// The message names the field.
	ErrInvalidConfig = errors.New("events: invalid configuration")

	// ErrAuthorization: the server refused the credentials (or their absence).
	ErrAuthorization = errors.New("events: authorization failed")

	// ErrUnreachable: no server answered within the initial connect window.
	ErrUnreachable = errors.New("events: server unreachable")

	// ErrJetStream: the server answered but JetStream could not be used
	// (disabled, or the stream could not be created).
	ErrJetStream = errors.New("events: jetstream unavailable")

	// ErrClosed: the Conn or Wakeup was closed.
	ErrClosed = errors.New("events: closed")
)
