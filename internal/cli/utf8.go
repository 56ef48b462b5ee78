package cli

import (
	"bytes"
	"io"
	"unicode/utf8"
)

// utf8Reader passes a task file through, refusing it at the first byte that
// is not valid UTF-8 with an error naming the line and column: the YAML
// parser would turn invalid bytes into U+FFFD, merging defs that differ
// only there. It validates as it streams, carrying a rune split across
// reads to the next one.
type utf8Reader struct {
	r         io.Reader
	name      string
	line, col int
	carry     []byte // the start of a rune the last read ended in
	err       error
}

func newUTF8Reader(r io.Reader, name string) *utf8Reader {
	return &utf8Reader{r: r, name: name, line: 1, col: 1}
}

func (u *utf8Reader) Read(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	n, err := u.r.Read(p)
	// Validate carry+p[:n]; whatever is left of an incomplete rune at the
	// end is checked with the next read (or refused at EOF).
	data := p[:n]
	if len(u.carry) > 0 {
		data = append(u.carry, data...)
	}
	// Fast path: valid text (nearly every file) is checked and counted in
	// bulk; the byte loop below runs only to name the first bad byte.
	if cut := len(data) - incompleteTail(data); utf8.Valid(data[:cut]) && (cut == len(data) || err == nil) {
		u.count(data[:cut])
		u.carry = append(u.carry[:0], data[cut:]...)
		return n, err
	}
	i := 0
	for i < len(data) {
		c := data[i]
		if c < utf8.RuneSelf {
			u.advance(c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			if !utf8.FullRune(data[i:]) {
				if err == nil {
					break // split across reads
				}
				u.err = Usagef("%s:%d:%d: invalid UTF-8 (a truncated character at the end): task files and their defs must be UTF-8", u.name, u.line, u.col)
				return 0, u.err
			}
			u.err = Usagef("%s:%d:%d: invalid UTF-8 (byte 0x%02x): task files and their defs must be UTF-8", u.name, u.line, u.col, c)
			return 0, u.err
		}
		u.col++
		i += size
	}
	u.carry = append(u.carry[:0], data[i:]...)
	return n, err
}

func (u *utf8Reader) advance(c byte) {
	if c == '\n' {
		u.line, u.col = u.line+1, 1
	} else {
		u.col++
	}
}

// count advances the position over valid text.
func (u *utf8Reader) count(b []byte) {
	if nl := bytes.LastIndexByte(b, '\n'); nl >= 0 {
		u.line += bytes.Count(b, []byte{'\n'})
		u.col = 1 + utf8.RuneCount(b[nl+1:])
		return
	}
	u.col += utf8.RuneCount(b)
}

// incompleteTail is the length of the start of a rune that b ends in,
// which the next read completes; 0 when b ends on a rune boundary.
func incompleteTail(b []byte) int {
	for k := 1; k <= min(utf8.UTFMax-1, len(b)); k++ {
		if c := b[len(b)-k]; !utf8.RuneStart(c) {
			continue
		}
		if utf8.FullRune(b[len(b)-k:]) {
			return 0
		}
		return k
	}
	return 0
}
