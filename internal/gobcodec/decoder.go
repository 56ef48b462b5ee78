package gobcodec

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// DecoderCache decodes payloads with gob.Decoders that already received
// the payload's type definitions.
//
// A payload is: message 1 with the interface header and the first type
// definition, one message per further definition, then the value; a value
// holding an interface whose concrete type is new carries that definition
// inline (TestGobPayloadLayout). The definitions are therefore no prefix:
// gobScan takes every one out (they form the key, in order) and rebuilds
// the stream as one message. A decoder that received the same definitions
// decodes the rebuilt stream as a fresh one decodes the original, because
// definitions only fill its id→type table and a payload defines every type
// it uses. The first decode of a key feeds a new decoder the whole payload,
// so a decoder never holds a definition its key lacks.
//
// Bounded: at most maxKeys keys (an arbitrary one is evicted), keys of at
// most gobCacheMaxKey bytes, payloads of at most gobCacheMaxPayload bytes
// (for bigger ones compiling is negligible next to decoding).
type DecoderCache struct {
	mu      sync.RWMutex
	entries map[string]*gobCacheEntry
	max     int
	scans   sync.Pool    // of *gobScan, scratch space
	created atomic.Int64 // decoders built, i.e. misses; read by tests
}

// DefaultEntries bounds a cache built with a size of 0: keys of a
// DecoderCache, types of an EncoderCache.
const DefaultEntries = 1024

const (
	gobCacheMaxKey     = 16 << 10
	gobCacheMaxPayload = 64 << 10
)

type gobCacheEntry struct {
	pool sync.Pool // of *cachedDecoder, each one owned by one goroutine at a time
}

type cachedDecoder struct {
	r   bytes.Reader // swapped for each payload; an io.ByteReader, so gob reads no further than it needs
	dec *gob.Decoder
}

// NewDecoderCache returns an empty cache of at most maxKeys sets of type
// definitions (DefaultEntries when maxKeys <= 0).
func NewDecoderCache(maxKeys int) *DecoderCache {
	if maxKeys <= 0 {
		maxKeys = DefaultEntries
	}
	c := &DecoderCache{entries: make(map[string]*gobCacheEntry), max: maxKeys}
	c.scans.New = func() any { return newGobScan() }
	return c
}

// Decode is DecodeLimit with DefaultMaxDepth.
func (c *DecoderCache) Decode(data []byte) (any, error) {
	return c.DecodeLimit(data, DefaultMaxDepth)
}

// DecodeLimit decodes a payload written by a fresh gob.Encoder (Encode(&v),
// v an interface), through a cached decoder when it can. The payload is
// checked first (see Check, nesting up to maxDepth levels; DefaultMaxDepth
// when maxDepth <= 0): one that breaks a limit is refused with Check's
// error before gob allocates anything for it. Otherwise the value and the
// error are the ones DecodeFresh gives. A nil cache decodes everything
// fresh.
func (c *DecoderCache) DecodeLimit(data []byte, maxDepth int) (any, error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	checked := false
	if c != nil {
		v, ok, scanned := c.decode(data, maxDepth)
		if ok {
			return v, nil
		}
		checked = scanned // the cache's scan is stricter than Check
	}
	if !checked {
		if err := c.check(data, maxDepth); err != nil {
			return nil, err
		}
	}
	return DecodeFresh(data) // not cacheable, or an error: the errors are a fresh decoder's
}

// DecodeFresh decodes data with a new gob.Decoder, receiving its types
// anew. It does not check the payload (DecodeLimit does): gob itself
// trusts a map's length and recurses without a limit. A panic inside gob
// is returned as an error.
func DecodeFresh(data []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, errors.New(fmt.Sprint(r))
		}
	}()
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// decode decodes data with a cached decoder. ok is false when the payload
// must go the fresh-decoder way: not cacheable, or it failed to decode.
// scanned is true when the payload passed the cache's scan, whose limits
// are those of Check or stricter.
func (c *DecoderCache) decode(data []byte, maxDepth int) (v any, ok, scanned bool) {
	if len(data) > gobCacheMaxPayload {
		return nil, false, false
	}
	s := c.scans.Get().(*gobScan)
	defer c.release(s)
	s.check, s.maxDepth = false, min(maxDepth, gobMaxDepth)
	if !s.scan(data) {
		return nil, false, false
	}
	if len(s.key) > gobCacheMaxKey {
		return nil, false, true
	}
	c.mu.RLock()
	e := c.entries[string(s.key)]
	c.mu.RUnlock()
	var d *cachedDecoder
	if e != nil {
		d, _ = e.pool.Get().(*cachedDecoder)
	}
	in := s.stream
	if d == nil {
		// A new decoder gets the original payload: it receives the type
		// definitions the gob way, exactly as a fresh decoder would.
		d = new(cachedDecoder)
		d.dec = gob.NewDecoder(&d.r)
		c.created.Add(1)
		in = data
	}
	v, ok = d.decode(in)
	if !ok {
		return nil, false, true // drop d: its state after a failure is unknown
	}
	if e == nil {
		e = c.entry(s.key)
	}
	e.pool.Put(d)
	return v, true, true
}

func (d *cachedDecoder) decode(in []byte) (v any, ok bool) {
	defer func() {
		if recover() != nil {
			v, ok = nil, false
		}
		d.r.Reset(nil)
	}()
	d.r.Reset(in)
	var x any // a new interface value each time: nothing carries over from the last payload
	if err := d.dec.Decode(&x); err != nil {
		return nil, false
	}
	return x, true
}

// entry returns the entry of key, adding it (and evicting an arbitrary one
// when full) if needed.
func (c *DecoderCache) entry(key []byte) *gobCacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[string(key)]; e != nil {
		return e
	}
	if len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	e := new(gobCacheEntry)
	c.entries[string(key)] = e
	return e
}

func (c *DecoderCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// gob's predefined type ids (encoding/gob/type.go); user types start at 64.
const (
	gobBool       = 1
	gobInt        = 2
	gobUint       = 3
	gobFloat      = 4
	gobBytes      = 5
	gobString     = 6
	gobComplex    = 7
	gobInterface  = 8
	gobFirstUser  = 64
	gobMaxDepth   = 300  // deeper values go the fresh way (after Check)
	gobMaxNameLen = 1024 // gob refuses longer interface type names
)

// Kinds of user-defined wire types.
const (
	wireArray = iota + 1
	wireSlice
	wireStruct
	wireMap
	wireOpaque // GobEncoder, BinaryMarshaler, TextMarshaler: a byte count and bytes
)

type wireDef struct {
	kind      uint8
	elem, key int64
	len       int64 // arrays
	f0, f1    int   // struct field type ids: gobScan.fields[f0:f1]
}

// gobScan walks one payload with gob's grammar (encoding/gob/decode.go, the
// same checks in the same places) and rebuilds it without type definitions.
// Each method returns false when the payload is malformed or not something
// the cache handles.
type gobScan struct {
	data     []byte
	pos, end int // read position and end of the current message
	keep     int // data[keep:pos] is still to be copied to out
	edits    int // bytes taken out and message boundaries crossed so far
	out      []byte
	stream   []byte // the rebuilt stream: a single message
	key      []byte // the type definitions, in stream order
	types    map[int64]wireDef
	fields   []int64
	complete map[int64]struct{} // types whose component types are all defined
	stack    []int64

	// check is Check's mode: nothing is rebuilt, a payload is refused only
	// when gob could not decode it within the limits, and err says why.
	check    bool
	maxDepth int   // levels of nesting (see Check)
	err      error // the first limit broken, in check mode
}

func newGobScan() *gobScan {
	return &gobScan{types: make(map[int64]wireDef), complete: make(map[int64]struct{})}
}

// release gives s back to c's pool.
func (c *DecoderCache) release(s *gobScan) {
	if cap(s.out) > 2*gobCacheMaxPayload || cap(s.key) > 2*gobCacheMaxKey || len(s.types) > 256 {
		return // let an unusually big one go
	}
	s.data, s.stream = nil, nil
	c.scans.Put(s)
}

const gobFrame = 9 // room for the message length in front of out

// scan checks data and, on success, sets s.key and s.stream.
func (s *gobScan) scan(data []byte) bool {
	s.data, s.pos, s.end, s.keep, s.edits, s.err = data, 0, 0, 0, 0, nil
	if s.maxDepth <= 0 {
		s.maxDepth = gobMaxDepth
	}
	s.out = append(s.out[:0], make([]byte, gobFrame)...)
	s.key = s.key[:0]
	s.fields = s.fields[:0]
	clear(s.types)
	clear(s.complete)

	// Decoder.DecodeValue: type definitions, each a message of its own, then
	// the id of the value.
	id, ok := s.typeSequence(false)
	if !ok {
		return false
	}
	// Encode(&v) for an interface v: a singleton interface value.
	if id != gobInterface {
		return s.bad(ErrMalformed, "value of type id %d, not an interface", id)
	}
	if d, ok := s.uint(); !ok || d != 0 {
		return s.bad(ErrMalformed, "bad interface value header")
	}
	if !s.iface(0, false) {
		return false
	}
	if s.check {
		return true // gob reads no further than the value
	}
	if s.pos != s.end || s.end != len(s.data) {
		return false // trailing bytes: leave them to the fresh decoder
	}
	s.out = append(s.out, s.data[s.keep:s.pos]...)
	body := len(s.out) - gobFrame
	n := putGobUint(s.out[:gobFrame], uint64(body))
	s.stream = s.out[gobFrame-n:]
	return true
}

// putGobUint writes x in gob's unsigned encoding at the end of b (len 9) and
// returns its length.
func putGobUint(b []byte, x uint64) int {
	if x < 0x80 {
		b[len(b)-1] = byte(x)
		return 1
	}
	n := 0
	for i := len(b) - 1; x > 0; i-- {
		b[i] = byte(x)
		x >>= 8
		n++
	}
	b[len(b)-n-1] = byte(-n)
	return n + 1
}

// nextMessage starts the next message, as Decoder.recvMessage does when the
// buffer is empty inside a type sequence.
// typeSequence is gob's Decoder.decodeTypeSequence: it reads (and takes
// out of the stream) type definitions up to the first non-negative type
// id, which it returns. At the top level (inline false) each definition is
// a message of its own; inside an interface value (inline true) one may be
// followed by a byte count in the same message.
func (s *gobScan) typeSequence(inline bool) (int64, bool) {
	for {
		if s.pos == s.end && !s.nextMessage() {
			return 0, false
		}
		a := s.pos
		x, ok := s.int()
		if !ok {
			return 0, false
		}
		if x >= 0 {
			return x, true
		}
		if !s.typeDef(-x, a) {
			return 0, false
		}
		switch {
		case s.pos == s.end:
		case !inline:
			return 0, false
		default:
			if _, ok := s.uint(); !ok {
				return 0, false
			}
		}
		s.remove(a)
	}
}

func (s *gobScan) nextMessage() bool {
	if s.pos != s.end || s.end >= len(s.data) {
		return s.bad(ErrMalformed, "unexpected end of data")
	}
	if !s.check {
		s.out = append(s.out, s.data[s.keep:s.end]...)
	}
	p := s.end
	n, w, ok := gobUintAt(s.data[p:])
	if !ok || n == 0 {
		return s.bad(ErrMalformed, "bad message length at byte %d", p)
	}
	if n > uint64(len(s.data)-p-w) {
		return s.bad(ErrTooLarge, "message of %d bytes at byte %d, %d left", n, p, len(s.data)-p-w)
	}
	s.pos = p + w
	s.end = s.pos + int(n)
	s.keep = s.pos
	s.edits++
	return true
}

// remove drops data[a:pos] from the rebuilt stream.
func (s *gobScan) remove(a int) {
	if !s.check {
		s.out = append(s.out, s.data[s.keep:a]...)
	}
	s.keep = s.pos
	s.edits++
}

func gobUintAt(b []byte) (x uint64, width int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	if b[0] <= 0x7f {
		return uint64(b[0]), 1, true
	}
	n := -int(int8(b[0]))
	if n > 8 || len(b)-1 < n {
		return 0, 0, false
	}
	for _, c := range b[1 : 1+n] {
		x = x<<8 | uint64(c)
	}
	return x, 1 + n, true
}

func (s *gobScan) uint() (uint64, bool) {
	x, w, ok := gobUintAt(s.data[s.pos:s.end])
	s.pos += w
	return x, ok
}

func (s *gobScan) int() (int64, bool) {
	x, ok := s.uint()
	if x&1 != 0 {
		return ^int64(x >> 1), ok
	}
	return int64(x >> 1), ok
}

// skipBytes skips a byte count and that many bytes (strings, []byte,
// GobEncoder data).
func (s *gobScan) skipBytes() bool {
	n, ok := s.count(1)
	s.pos += n
	return ok
}

// count reads a length: of elements of at least each bytes, or of bytes
// (min 1). It cannot be more than the bytes left in the message allow.
func (s *gobScan) count(each int) (int, bool) {
	n, ok := s.uint()
	if !ok {
		return 0, s.bad(ErrMalformed, "bad length at byte %d", s.pos)
	}
	if n > uint64((s.end-s.pos)/each) {
		return 0, s.bad(ErrTooLarge, "length %d at byte %d, %d bytes left", n, s.pos, s.end-s.pos)
	}
	return int(n), true
}

// skipUints skips n gob unsigned ints (bools, ints, floats).
func (s *gobScan) skipUints(n int) bool {
	pos, end := s.pos, s.end
	for range n {
		if pos >= end {
			return s.bad(ErrMalformed, "array or slice ends early at byte %d", pos)
		}
		if b := s.data[pos]; b <= 0x7f {
			pos++
		} else if w := -int(int8(b)); w <= 8 && pos+1+w <= end {
			pos += 1 + w
		} else {
			return s.bad(ErrMalformed, "bad number at byte %d", pos)
		}
	}
	s.pos = pos
	return true
}

// bad records why the payload is refused, in check mode, and returns false.
func (s *gobScan) bad(kind error, format string, args ...any) bool {
	if s.check && s.err == nil {
		s.err = fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
	}
	return false
}

// typeDef reads the definition of type id (Decoder.recvType) starting at
// data[a], whose id is already read.
func (s *gobScan) typeDef(id int64, a int) bool {
	if id < gobFirstUser {
		return false
	}
	if _, dup := s.types[id]; dup {
		return false
	}
	w, ok := s.wireType()
	if !ok {
		return false
	}
	s.types[id] = w
	if !s.check {
		s.key = append(s.key, s.data[a:s.pos]...)
	}
	return true
}

// builtinStruct reads a struct of one of gob's own types with n fields,
// calling field for each field present.
func (s *gobScan) builtinStruct(n int, field func(int) bool) bool {
	f := -1
	for {
		if s.pos == s.end {
			return false // gob would end the struct here; encoders always write the terminator
		}
		d, ok := s.uint()
		if !ok {
			return false
		}
		if d == 0 {
			return true
		}
		if d >= uint64(n-f) {
			return false
		}
		f += int(d)
		if !field(f) {
			return false
		}
	}
}

// skipCommon skips a CommonType{Name string; Id typeId}.
func (s *gobScan) skipCommon() bool {
	return s.builtinStruct(2, func(f int) bool {
		if f == 0 {
			return s.skipBytes()
		}
		_, ok := s.int()
		return ok
	})
}

// wireType reads a gob wireType: exactly one of ArrayT, SliceT, StructT,
// MapT, GobEncoderT, BinaryMarshalerT, TextMarshalerT.
func (s *gobScan) wireType() (w wireDef, ok bool) {
	w.f0 = len(s.fields)
	w.f1 = w.f0
	set := 0
	readID := func(p *int64) bool {
		var ok bool
		*p, ok = s.int()
		return ok
	}
	ok = s.builtinStruct(7, func(f int) bool {
		set++
		switch f {
		case 0: // arrayType{CommonType; Elem typeId; Len int}
			w.kind = wireArray
			return s.builtinStruct(3, func(f int) bool {
				switch f {
				case 0:
					return s.skipCommon()
				case 1:
					return readID(&w.elem)
				default:
					return readID(&w.len)
				}
			})
		case 1: // sliceType{CommonType; Elem typeId}
			w.kind = wireSlice
			return s.builtinStruct(2, func(f int) bool {
				if f == 0 {
					return s.skipCommon()
				}
				return readID(&w.elem)
			})
		case 2: // structType{CommonType; Field []fieldType{Name string; Id typeId}}
			w.kind = wireStruct
			return s.builtinStruct(2, func(f int) bool {
				if f == 0 {
					return s.skipCommon()
				}
				n, ok := s.count(1)
				if !ok {
					return false
				}
				w.f0 = len(s.fields)
				for range n {
					if s.pos == s.end {
						return false
					}
					var id int64
					ok := s.builtinStruct(2, func(f int) bool {
						if f == 0 {
							return s.skipBytes()
						}
						return readID(&id)
					})
					if !ok {
						return false
					}
					s.fields = append(s.fields, id)
				}
				w.f1 = len(s.fields)
				return true
			})
		case 3: // mapType{CommonType; Key, Elem typeId}
			w.kind = wireMap
			return s.builtinStruct(3, func(f int) bool {
				switch f {
				case 0:
					return s.skipCommon()
				case 1:
					return readID(&w.key)
				default:
					return readID(&w.elem)
				}
			})
		default: // gobEncoderType{CommonType}
			w.kind = wireOpaque
			return s.builtinStruct(1, func(int) bool { return s.skipCommon() })
		}
	})
	return w, ok && set == 1 && w.len >= 0
}

// defined reports whether id is a type a value can have, all of whose
// component types (not through interfaces) are defined by now: gob compiles
// the decoder of a type, components included, when a value of it starts.
func (s *gobScan) defined(id int64) bool {
	if id >= gobBool && id <= gobComplex {
		return true
	}
	if id < gobFirstUser {
		return false
	}
	if _, ok := s.complete[id]; ok {
		return true
	}
	s.complete[id] = struct{}{} // only kept if the scan succeeds
	s.stack = append(s.stack[:0], id)
	for len(s.stack) > 0 {
		x := s.stack[len(s.stack)-1]
		s.stack = s.stack[:len(s.stack)-1]
		w, ok := s.types[x]
		if !ok {
			return false
		}
		var two [2]int64
		refs := s.fields[w.f0:w.f1]
		switch w.kind {
		case wireArray, wireSlice:
			two[0] = w.elem
			refs = two[:1]
		case wireMap:
			two[0], two[1] = w.key, w.elem
			refs = two[:2]
		}
		for _, r := range refs {
			if r >= gobBool && r <= gobInterface {
				continue
			}
			if r < gobFirstUser {
				return false
			}
			if _, ok := s.complete[r]; !ok {
				s.complete[r] = struct{}{}
				s.stack = append(s.stack, r)
			}
		}
	}
	return true
}

// iface reads an interface value (Decoder.decodeInterface) at nesting
// level depth. underStruct means the value sits somewhere inside a struct
// field, which the local type might not have: then gob skips the value by
// its byte count (Decoder.ignoreInterface) instead of decoding it, so the
// count must be exact and the skipped bytes must be the ones gob would
// skip.
func (s *gobScan) iface(depth int, underStruct bool) bool {
	n, ok := s.uint()
	switch {
	case !ok:
		return s.bad(ErrMalformed, "bad interface name length at byte %d", s.pos)
	case n > uint64(s.end-s.pos) || n > gobMaxNameLen:
		return s.bad(ErrTooLarge, "interface name of %d bytes at byte %d", n, s.pos)
	case n == 0:
		// A nil interface. ignoreInterface does not special-case it and
		// would read on, so the cache only takes it where it cannot be
		// ignored (see Check for check mode).
		return !underStruct || s.check
	}
	s.pos += int(n)
	// Decoder.decodeTypeSequence(true): definitions of the concrete type,
	// each followed by a byte count unless the message ends there.
	id, ok := s.typeSequence(true)
	if !ok {
		return s.bad(ErrMalformed, "bad type definition before byte %d", s.pos)
	}
	if !s.defined(id) {
		return s.bad(ErrMalformed, "value of undefined type id %d", id)
	}
	count, ok := s.uint()
	if !ok || count > uint64(s.end-s.pos) {
		return s.bad(ErrTooLarge, "interface value of %d bytes at byte %d", count, s.pos)
	}
	start, edits := s.pos, s.edits
	if w, user := s.types[id]; user && w.kind == wireStruct {
		ok = s.structValue(w, depth)
	} else {
		d, dok := s.uint() // singleton: a zero field delta first
		ok = (dok && d == 0 || s.bad(ErrMalformed, "bad singleton at byte %d", s.pos)) && s.value(id, depth, underStruct)
	}
	if !ok || !underStruct || s.check || uint64(s.pos-start) == count && s.edits == edits {
		return ok
	}
	return s.bad(ErrMalformed, "interface value of %d bytes at byte %d has %d", count, start, s.pos-start)
}

// enter checks that a container at level depth may hold values one level
// deeper.
func (s *gobScan) enter(depth int) bool {
	return depth < s.maxDepth || s.bad(ErrTooDeep, "more than %d levels of nesting", s.maxDepth)
}

func (s *gobScan) structValue(w wireDef, depth int) bool {
	if !s.enter(depth) {
		return false
	}
	nf := w.f1 - w.f0
	f := -1
	for {
		if s.pos == s.end {
			// No terminator: gob would stop here, encoders never do.
			return s.bad(ErrMalformed, "struct without its end at byte %d", s.pos)
		}
		d, ok := s.uint()
		if !ok || d >= uint64(nf-f) {
			return s.bad(ErrMalformed, "bad struct field at byte %d", s.pos)
		}
		if d == 0 {
			return true
		}
		f += int(d)
		if !s.value(s.fields[w.f0+f], depth+1, true) {
			return false
		}
	}
}

// value reads a value of wire type id at nesting level depth; the type is
// defined (see defined).
func (s *gobScan) value(id int64, depth int, underStruct bool) bool {
	switch id {
	case gobBool, gobInt, gobUint, gobFloat:
		_, ok := s.uint()
		return ok || s.bad(ErrMalformed, "bad number at byte %d", s.pos)
	case gobBytes, gobString:
		return s.skipBytes()
	case gobComplex:
		_, ok := s.uint()
		_, ok2 := s.uint()
		return ok && ok2 || s.bad(ErrMalformed, "bad complex at byte %d", s.pos)
	case gobInterface:
		return s.iface(depth, underStruct)
	}
	w, ok := s.types[id]
	if !ok {
		return s.bad(ErrMalformed, "value of undefined type id %d", id)
	}
	switch w.kind {
	case wireArray, wireSlice:
		if !s.enter(depth) {
			return false
		}
		n, ok := s.count(1)
		if !ok {
			return false
		}
		if w.kind == wireArray && int64(n) != w.len {
			return s.bad(ErrMalformed, "array of %d elements, its type has %d", n, w.len)
		}
		if w.elem >= gobBool && w.elem <= gobFloat {
			return s.skipUints(n) // numbers: the common big payload, in a tight loop
		}
		for range n {
			if s.pos == s.end || !s.value(w.elem, depth+1, underStruct) {
				return s.bad(ErrMalformed, "array or slice ends early at byte %d", s.pos)
			}
		}
		return true
	case wireMap:
		if !s.enter(depth) {
			return false
		}
		n, ok := s.count(2) // a key and a value: at least a byte each
		if !ok {
			return false
		}
		for range n {
			if !s.value(w.key, depth+1, underStruct) || !s.value(w.elem, depth+1, underStruct) {
				return false
			}
		}
		return true
	case wireStruct:
		return s.structValue(w, depth)
	case wireOpaque:
		return s.skipBytes()
	}
	return s.bad(ErrMalformed, "type id %d has no kind", id)
}
