package taskstate

import (
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/taskfleet/taskfleet/internal/gobcodec"
)

// DefaultMaxPayload is the default cap on an encoded def or result: 15 MiB,
// which leaves room for the rest of the document under MongoDB's 16 MB limit.
const DefaultMaxPayload = 15 << 20

func init() {
	// The generic shapes a def takes when it comes from JSON or YAML. Typed
	// handlers register their own types (see RegisterType).
	gob.Register(map[string]any{})
	gob.Register([]any{})
	gob.Register(time.Time{})
}

// RegisterType makes a concrete type usable inside a def or result that is
// stored as an interface value. It is gob.Register, but returns gob's
// panic as an error (a name registered for another type, a nil or
// interface value). Registering the same type again returns nil.
func RegisterType(v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("taskstate: register type %T: %v", v, r)
		}
	}()
	gob.Register(v)
	return nil
}

// Codec encodes defs and results with encoding/gob (Go's pickle: any Go
// value, no code execution on decode) and enforces a size cap and a nesting
// limit both ways. A stored payload is checked before gob decodes it (see
// gobcodec.Check): a length over the bytes that remain or nesting over the
// limit is ErrDecode (with ErrPayloadLength or ErrPayloadTooDeep), and gob
// never allocates for it, so a hostile payload fails its task instead of
// its worker.
//
// A Codec from NewCodec reuses gob decoders and encoders across payloads of
// the same types (see internal/gobcodec); copies share them. The zero value
// and a literal such as Codec{MaxSize: n} work too, but encode and decode
// every payload fresh; NewManager gives such a Codec its own caches.
type Codec struct {
	// MaxSize caps an encoded payload in bytes. Default DefaultMaxPayload.
	MaxSize int
	// MaxDepth caps the nesting of a payload, in levels of maps, slices,
	// arrays and structs, on encode and on decode. Default DefaultMaxDepth
	// (1,000).
	MaxDepth int

	dec    *gobcodec.DecoderCache // nil: every payload decoded fresh
	enc    *gobcodec.EncoderCache // nil: every payload encoded fresh
	shapes *shapeCache            // nil: the nesting of types computed for each payload
}

// NewCodec returns a Codec with the size cap maxSize (DefaultMaxPayload when
// maxSize <= 0) and its own decoder and encoder caches.
func NewCodec(maxSize int) Codec {
	return Codec{MaxSize: maxSize, dec: gobcodec.NewDecoderCache(0), enc: gobcodec.NewEncoderCache(0), shapes: new(shapeCache)}
}

// cached returns c, with caches of its own if it has none.
func (c Codec) cached() Codec {
	if c.dec == nil || c.enc == nil || c.shapes == nil {
		n := NewCodec(c.MaxSize)
		n.MaxDepth = c.MaxDepth
		return n
	}
	return c
}

func (c Codec) max() int {
	if c.MaxSize <= 0 {
		return DefaultMaxPayload
	}
	return c.MaxSize
}

// Encode gob-encodes v as an interface value, so Decode gives back the same
// dynamic type. A nil v encodes to nil. A v nested deeper than MaxDepth is
// refused (ErrPayloadTooDeep, naming the path) before gob runs. The payload
// is the one a fresh gob.Encoder writes, whether or not it came from a
// cached encoder.
func (c Codec) Encode(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if err := checkPayload(v, "", c.MaxDepth, false, c.shapes); err != nil {
		return nil, fmt.Errorf("taskstate: encode %T: %w", v, err)
	}
	return c.encodeChecked(v)
}

// encodeChecked is Encode of a non-nil v that checkPayload passed.
func (c Codec) encodeChecked(v any) ([]byte, error) {
	b, err := c.enc.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("taskstate: gob encode %T: %w", v, err)
	}
	return c.capped(b)
}

// capped returns b, or ErrPayloadTooLarge when an encoded payload is over
// the cap.
func (c Codec) capped(b []byte) ([]byte, error) {
	if len(b) > c.max() {
		return nil, fmt.Errorf("%w: %d bytes encoded, cap is %d", ErrPayloadTooLarge, len(b), c.max())
	}
	return b, nil
}

// Decode decodes a payload written by Encode. Empty data decodes to nil.
// A payload that breaks the limits is ErrDecode without reaching gob;
// otherwise the value and error are a fresh gob.Decoder's, whether or not a
// cached decoder did the work.
func (c Codec) Decode(data []byte) (v any, err error) {
	if len(data) == 0 {
		return nil, nil
	}
	if len(data) > c.max() {
		return nil, fmt.Errorf("%w: %d bytes stored, cap is %d", ErrPayloadTooLarge, len(data), c.max())
	}
	if v, err = c.dec.DecodeLimit(data, c.MaxDepth); err != nil {
		if errors.Is(err, ErrPayloadTooDeep) || errors.Is(err, ErrPayloadLength) || errors.Is(err, gobcodec.ErrMalformed) {
			return nil, fmt.Errorf("%w: %w", ErrDecode, err)
		}
		return nil, fmt.Errorf("%w: gob: %v", ErrDecode, err)
	}
	return v, nil
}

// DecodeAs decodes a payload into T. A payload stored as T (or *T) is
// returned as is; one stored as a generic document (a map from JSON or YAML)
// is converted through JSON, so a typed handler can run tasks created from a
// YAML file.
func DecodeAs[T any](c Codec, data []byte) (T, error) {
	var zero T
	v, err := c.Decode(data)
	if err != nil {
		return zero, err
	}
	return Convert[T](v)
}

// Convert turns a decoded payload into T, directly when the dynamic type
// matches and through JSON otherwise.
func Convert[T any](v any) (T, error) {
	var out T
	switch x := v.(type) {
	case nil:
		return out, nil
	case T:
		return x, nil
	case *T: //nolint:gocritic // after T on purpose: a *T that is itself a T (T an interface) is returned as is
		if x != nil {
			return *x, nil
		}
		return out, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return out, fmt.Errorf("%w: %T to %s: %v", ErrDecode, v, reflect.TypeFor[T](), err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("%w: %T to %s: %v", ErrDecode, v, reflect.TypeFor[T](), err)
	}
	return out, nil
}

// ToFilter renders a def as a queryable document: its JSON form, decoded
// into maps, slices, float64, string, bool and nil. A def whose JSON form is
// not an object is stored as {"value": def}. The result is what dotted query
// paths such as filter.model.class look into.
func ToFilter(def any) (map[string]any, error) {
	if m, ok := def.(map[string]any); ok && isJSONDoc(m, 0) {
		// Already what the JSON round trip below would make of it (a def
		// read from a task file): skip the round trip. The map is shared
		// with the def; neither is changed afterwards.
		return m, nil
	}
	b, err := json.Marshal(def)
	if err != nil {
		return nil, fmt.Errorf("%w: def %T is not representable as a document: %v", ErrInvalidTask, def, err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: def %T: %v", ErrInvalidTask, def, err)
	}
	if m, ok := v.(map[string]any); ok {
		return m, nil
	}
	return map[string]any{"value": v}, nil
}

// maxJSONDocDepth bounds isJSONDoc's walk; deeper defs take the round trip
// (checkPayload has bounded their depth already).
const maxJSONDocDepth = 64

// isJSONDoc reports whether v holds only what encoding/json decodes into
// an any (maps with string keys, slices of any, valid UTF-8 strings, finite float64,
// bools, nil), so that marshalling and unmarshalling it gives it back
// unchanged.
func isJSONDoc(v any, depth int) bool {
	if depth > maxJSONDocDepth {
		return false
	}
	switch x := v.(type) {
	case nil, bool:
		return true
	case string:
		return utf8.ValidString(x) // JSON would replace invalid bytes
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case map[string]any:
		for k, e := range x {
			if !utf8.ValidString(k) || !isJSONDoc(e, depth+1) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !isJSONDoc(e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// Key is the dedup key of a task: the SHA-256 of its kind and the canonical
// JSON of its filter (object keys sorted), so the same def gives the same
// key whatever the key order it was written in.
func Key(kind string, filter map[string]any) string {
	b, _ := json.Marshal(filter) // maps marshal with sorted keys; filter came from JSON so it cannot fail
	return keyOf(kind, b)
}

// keyOf is Key over the filter's canonical JSON.
func keyOf(kind string, filterJSON []byte) string {
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write(filterJSON)
	return hex.EncodeToString(h.Sum(nil))
}
