package collect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// sep separates the encoded elements of a Key. Compact JSON text never contains
// a raw NUL byte (control characters inside strings are escaped), so the
// encoding is unambiguous.
const sep = "\x00"

// Key is a tuple of values used as a key of a Collection: Qlib's tuple keys such
// as ("LGBModel", ("2017-01-01", "2017-06-30")) or a single artifact name such
// as ("pred",).
//
// A Key is comparable, so it can be used as a map key and compared with ==. Each
// element is stored as compact canonical JSON (object keys sorted, time.Time as
// RFC 3339), so two keys built from equal JSON values are equal: the string
// "a" and the number 1 stay distinct, while []string{"a"} and []any{"a"} are the
// same element. Strings are JSON strings, so invalid UTF-8 in them becomes
// U+FFFD. The zero Key is the empty tuple.
type Key struct {
	s string
}

// NewKey returns the tuple of parts. It fails when a part cannot be encoded as
// JSON (a channel, a function, a NaN float).
func NewKey(parts ...any) (Key, error) {
	var b strings.Builder
	for i, p := range parts {
		enc, err := encodeElem(p)
		if err != nil {
			return Key{}, fmt.Errorf("collect: key element %d: %w", i, err)
		}
		if i > 0 {
			b.WriteString(sep)
		}
		b.Write(enc)
	}
	return Key{s: b.String()}, nil
}

// MustKey is NewKey that panics on error. It is meant for literals in code and
// tests.
func MustKey(parts ...any) Key {
	k, err := NewKey(parts...)
	if err != nil {
		panic(err)
	}
	return k
}

// StrKey returns the tuple of the given strings. It cannot fail.
func StrKey(parts ...string) Key {
	anys := make([]any, len(parts))
	for i, p := range parts {
		anys[i] = p
	}
	return MustKey(anys...)
}

func encodeElem(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	// Encode sorts map keys but keeps the trailing newline; Compact removes
	// insignificant whitespace that a custom MarshalJSON may have produced.
	var out bytes.Buffer
	if err := json.Compact(&out, bytes.TrimRight(buf.Bytes(), "\n")); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func (k Key) elems() []string {
	if k.s == "" {
		return nil
	}
	return strings.Split(k.s, sep)
}

// Len returns the number of elements of the tuple.
func (k Key) Len() int {
	if k.s == "" {
		return 0
	}
	return strings.Count(k.s, sep) + 1
}

// At returns element i decoded from JSON: a string, float64, bool, nil, []any or
// map[string]any. It panics when i is out of range, like a slice index.
func (k Key) At(i int) any {
	var v any
	if err := json.Unmarshal([]byte(k.elems()[i]), &v); err != nil {
		// Unreachable: every element was produced by encodeElem.
		panic(fmt.Sprintf("collect: corrupt key element %d: %v", i, err))
	}
	return v
}

// StringAt returns element i as a string: the string itself when the element is
// a JSON string, otherwise its compact JSON text.
func (k Key) StringAt(i int) string {
	e := k.elems()[i]
	if s, ok := k.At(i).(string); ok {
		return s
	}
	return e
}

// Slice returns the elements [i, j) as a new Key, like k[i:j] on a tuple.
func (k Key) Slice(i, j int) Key {
	return Key{s: strings.Join(k.elems()[i:j], sep)}
}

// Concat returns the tuple k followed by the elements of o.
func (k Key) Concat(o Key) Key {
	switch {
	case k.s == "":
		return o
	case o.s == "":
		return k
	}
	return Key{s: k.s + sep + o.s}
}

// Compare orders keys by their encoding. The order is total and stable across
// runs, which is what deterministic output needs; it is not a semantic order of
// the values (the number 10 sorts before 9).
func (k Key) Compare(o Key) int {
	return strings.Compare(k.s, o.s)
}

// String renders the key for logs and messages: "(a, b, [1,2])". String
// elements appear bare, other elements as JSON.
func (k Key) String() string {
	n := k.Len()
	parts := make([]string, n)
	for i := range n {
		parts[i] = k.StringAt(i)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// MarshalText encodes the key as a JSON array, so a Collection can be written
// as JSON and a Key can be gob-encoded.
func (k Key) MarshalText() ([]byte, error) {
	return []byte("[" + strings.Join(k.elems(), ",") + "]"), nil
}

// UnmarshalText decodes a JSON array produced by MarshalText.
func (k *Key) UnmarshalText(text []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(text, &raw); err != nil {
		return fmt.Errorf("collect: key %q: want a JSON array: %w", text, err)
	}
	parts := make([]any, len(raw))
	for i, r := range raw {
		// UseNumber keeps integers exact when the element is re-encoded.
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("collect: key element %d: %w", i, err)
		}
		parts[i] = v
	}
	nk, err := NewKey(parts...)
	if err != nil {
		return err
	}
	*k = nk
	return nil
}
