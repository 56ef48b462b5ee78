package gobcodec

import (
	"bytes"
	"encoding/gob"
	"reflect"
	"sync"
	"sync/atomic"
)

// EncoderCache encodes values with gob.Encoders that already sent the
// type definitions of the value's concrete type T.
//
// A fresh encoder writes P + message(V): P is every message but the last
// (the interface header H, naming T, then T's definitions; empty when T
// needs none) and V is T's id, a byte count and the value. An encoder that
// already encoded a T writes the single message H+V. P is taken from each
// type's first payload (TestEncodeCacheLayout); it depends on T only, as gob
// type ids are process-global and fixed once assigned. V depends on the
// encoder's history only through interface values (they send their concrete
// type's definitions the first time), so types with an interface anywhere
// inside go fresh (gobEncodable). Types with their own encoding (time.Time)
// are fine: gob writes their method's output as bytes.
//
// Bounded: at most maxTypes types (an arbitrary one is evicted); encoders
// whose last payload was over gobEncMaxPooled bytes are not kept. Encoders
// are stateful: each is used by one goroutine at a time.
type EncoderCache struct {
	mu      sync.RWMutex
	entries map[reflect.Type]*gobEncEntry
	max     int
	created atomic.Int64 // encoders built; read by tests
}

const (
	gobEncMaxPooled = 64 << 10
	gobEncMaxDepth  = 64 // deeper type trees are refused
)

type gobEncEntry struct {
	ok     bool                         // T is cacheable (gobEncodable)
	layout atomic.Pointer[gobEncLayout] // set by the first encoder of T
	pool   sync.Pool                    // of *cachedEncoder
}

// gobEncLayout is what a fresh encoder writes for T around V.
type gobEncLayout struct {
	prefix []byte // P; empty when T needs no type definitions
	header []byte // H, the start of P's first message body
}

type cachedEncoder struct {
	buf bytes.Buffer
	enc *gob.Encoder
}

// NewEncoderCache returns an empty cache of at most maxTypes concrete
// types (DefaultEntries when maxTypes <= 0).
func NewEncoderCache(maxTypes int) *EncoderCache {
	if maxTypes <= 0 {
		maxTypes = DefaultEntries
	}
	return &EncoderCache{entries: make(map[reflect.Type]*gobEncEntry), max: maxTypes}
}

// Encode gob-encodes v as an interface value (Encode(&v)) and returns the
// bytes and the error EncodeFresh gives, through a cached encoder when it
// can. A nil cache encodes everything fresh.
func (c *EncoderCache) Encode(v any) ([]byte, error) {
	if c != nil && v != nil {
		if b, ok := c.encode(v); ok {
			return b, nil
		}
	}
	return EncodeFresh(v) // not cacheable, or an error: the errors are a fresh encoder's
}

// EncodeFresh encodes v with a new gob.Encoder, sending its types anew.
func EncodeFresh(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encode returns the payload a fresh encoder writes for v, in a new slice.
// ok is false when v must go the fresh-encoder way: a type the cache does
// not take, or an encoder that failed.
func (c *EncoderCache) encode(v any) (out []byte, ok bool) {
	e := c.entry(reflect.TypeOf(v))
	if !e.ok {
		return nil, false
	}
	d, _ := e.pool.Get().(*cachedEncoder)
	if d == nil {
		// A new encoder is a fresh encoder: its first payload is the fresh
		// payload, and it gives P.
		d = &cachedEncoder{}
		d.enc = gob.NewEncoder(&d.buf)
		c.created.Add(1)
		x := v // only this branch moves an interface value to the heap
		if d.enc.Encode(&x) != nil {
			return nil, false
		}
		first := d.buf.Bytes()
		l, lok := gobLayout(first)
		if !lok {
			return nil, false
		}
		if !e.layout.CompareAndSwap(nil, l) {
			if have := e.layout.Load(); !bytes.Equal(have.prefix, l.prefix) || !bytes.Equal(have.header, l.header) {
				return nil, false // cannot happen (see above); never use this encoder
			}
		}
		out = bytes.Clone(first)
		d.put(e, len(first))
		return out, true
	}
	l := e.layout.Load() // set before d was first put in the pool
	if l == nil {
		return nil, false
	}
	d.buf.Reset()
	x := v
	if d.enc.Encode(&x) != nil {
		return nil, false // drop d: its state after a failure is unknown
	}
	msg := d.buf.Bytes()
	n, w, mok := gobUintAt(msg)
	if !mok || n != uint64(len(msg)-w) || !bytes.HasPrefix(msg[w:], l.header) {
		return nil, false // not H+V in one message: drop d
	}
	if len(l.prefix) == 0 {
		out = bytes.Clone(msg)
	} else {
		val := msg[w+len(l.header):] // V
		var hdr [gobFrame]byte
		hn := putGobUint(hdr[:], uint64(len(val)))
		out = make([]byte, 0, len(l.prefix)+hn+len(val))
		out = append(out, l.prefix...)
		out = append(out, hdr[gobFrame-hn:]...)
		out = append(out, val...)
	}
	d.put(e, len(msg))
	return out, true
}

func (d *cachedEncoder) put(e *gobEncEntry, n int) {
	if n > gobEncMaxPooled {
		return // let an unusually big one go
	}
	d.buf.Reset()
	e.pool.Put(d)
}

// gobLayout splits the first payload of an encoder into P (all messages but
// the last) and H (the interface header at the start of the first message).
func gobLayout(b []byte) (*gobEncLayout, bool) {
	var first []byte
	lastStart := 0
	for p := 0; p < len(b); {
		n, w, ok := gobUintAt(b[p:])
		if !ok || n == 0 || n > uint64(len(b)-p-w) {
			return nil, false
		}
		if first == nil {
			first = b[p+w : p+w+int(n)]
		}
		lastStart = p
		p += w + int(n)
	}
	if first == nil {
		return nil, false
	}
	// H: tInterface's id (8, as a gob int: 16), field delta 0, name length, name.
	if len(first) < 3 || first[0] != 2*gobInterface || first[1] != 0 {
		return nil, false
	}
	nameLen, w, ok := gobUintAt(first[2:])
	if !ok || nameLen == 0 || nameLen > uint64(len(first)-2-w) {
		return nil, false
	}
	h := first[:2+w+int(nameLen)]
	l := &gobEncLayout{header: bytes.Clone(h)}
	if lastStart > 0 { // more than one message: P is nonempty
		l.prefix = bytes.Clone(b[:lastStart])
	}
	return l, true
}

// entry returns the entry of t, adding it (and evicting an arbitrary one
// when full) if needed.
func (c *EncoderCache) entry(t reflect.Type) *gobEncEntry {
	c.mu.RLock()
	e := c.entries[t]
	c.mu.RUnlock()
	if e != nil {
		return e
	}
	ok := gobEncodable(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[t]; e != nil {
		return e
	}
	if len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	e = &gobEncEntry{ok: ok}
	c.entries[t] = e
	return e
}

func (c *EncoderCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// gobEncodable reports whether no interface (nor chan, func or unsafe
// pointer) is reachable from t through struct fields (exported or not),
// elements, map keys and pointers. Types more than gobEncMaxDepth levels
// deep are refused.
func gobEncodable(t reflect.Type) bool {
	seen := make(map[reflect.Type]bool)
	var walk func(t reflect.Type, depth int) bool
	walk = func(t reflect.Type, depth int) bool {
		if depth > gobEncMaxDepth {
			return false
		}
		if seen[t] {
			return true // recursive type: checked (or being checked) already
		}
		seen[t] = true
		switch t.Kind() {
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
			reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
			return true
		case reflect.Array, reflect.Slice, reflect.Pointer:
			return walk(t.Elem(), depth+1)
		case reflect.Map:
			return walk(t.Key(), depth+1) && walk(t.Elem(), depth+1)
		case reflect.Struct:
			for i := range t.NumField() {
				if !walk(t.Field(i).Type, depth+1) {
					return false
				}
			}
			return true
		}
		return false // Interface, Chan, Func, UnsafePointer
	}
	return t != nil && walk(t, 0)
}
