package cli

import "unicode/utf8"

// checkUTF8 refuses a task file that is not valid UTF-8, naming the line
// and column of the first bad byte: the YAML parser would turn invalid bytes
// into U+FFFD, merging defs that differ only there.
func checkUTF8(data []byte, name string) error {
	if utf8.Valid(data) {
		return nil
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return Usagef("%s:%d:%d: invalid UTF-8 (byte 0x%02x): task files and their defs must be UTF-8", name, line, col, data[i])
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += n
	}
	return nil
}
