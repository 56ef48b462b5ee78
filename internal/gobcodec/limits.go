package gobcodec

import (
	"errors"
	"fmt"
)

// DefaultMaxDepth is the nesting limit of a payload when none is given:
// 1,000 levels of containers (a map, slice, array or struct is one level;
// the interface values between them are free). Deeper payloads are refused
// before gob sees them, and gob recurses once per level.
const DefaultMaxDepth = 1000

// Errors of Check, and of the decodes that run it. Test with errors.Is.
var (
	// ErrTooLarge: a length on the wire (a message, a map, slice or array
	// count, a string or byte count) is more than the bytes that remain
	// could hold.
	ErrTooLarge = errors.New("gobcodec: length larger than the payload")
	// ErrTooDeep: a payload or value is nested deeper than its limit.
	ErrTooDeep = errors.New("gobcodec: nested too deep")
	// ErrMalformed: the payload is not a gob stream of one interface value.
	ErrMalformed = errors.New("gobcodec: malformed payload")
)

// Check walks a payload written by Encode(&v), v an interface, as gob
// would decode it (every message, type definition and value), without
// allocating for what it reads: it refuses, with an error wrapping
// ErrTooLarge, ErrTooDeep or ErrMalformed, a payload with a length over the
// bytes that remain or nested more than maxDepth levels (DefaultMaxDepth
// when maxDepth <= 0). A payload that passes makes gob allocate at most a
// small multiple of its size: every element counted is present (one byte
// at least, two for a map entry), so a map's size hint cannot outgrow the
// payload.
//
// Inside a struct field, gob skips (rather than decodes) a value when the
// local struct type lacks the field, using the byte count of each interface
// value; encoders write counts that gob cannot follow there (a nil
// interface, a definition inside the value), and Check walks such values
// as decoded. A payload that defines a registered struct type with made-up
// fields can therefore make gob read part of a skipped field as another
// value, which Check did not see: such payloads are only made by writing to
// the store directly, never by Encode.
func Check(data []byte, maxDepth int) error {
	return (*DecoderCache)(nil).check(data, maxDepth)
}

// check is Check with the cache's scratch space, when there is a cache.
func (c *DecoderCache) check(data []byte, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	var s *gobScan
	if c != nil {
		s = c.scans.Get().(*gobScan)
		defer c.release(s)
	} else {
		s = newGobScan()
	}
	s.check, s.maxDepth = true, maxDepth
	if s.scan(data) {
		return nil
	}
	if s.err == nil {
		return fmt.Errorf("%w: not a gob interface value", ErrMalformed)
	}
	return s.err
}
