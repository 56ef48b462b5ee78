package taskstate

// SpecError is the error of one spec of a Create call: Index is its
// position in the call's specs, so that a caller reading specs from a file
// can point at the entry. Its message is Err's.
type SpecError struct {
	Index int
	Err   error
}

func (e *SpecError) Error() string { return e.Err.Error() }

// Unwrap returns Err: errors.Is(err, ErrPayloadTooLarge) and the like work.
func (e *SpecError) Unwrap() error { return e.Err }
