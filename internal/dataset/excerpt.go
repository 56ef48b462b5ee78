package dataset

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// excerptBytes bounds what an error quotes of a file's content: a dataset
// path in a task def could name a file that holds secrets, and an error
// ends up in the task's last_error for anyone to read.
const excerptBytes = 32

// excerpt returns at most excerptBytes of s, control characters and
// invalid UTF-8 replaced by '?', with "…" when it was cut.
func excerpt(s string) string {
	cut := len(s) > excerptBytes
	if cut {
		s = s[:excerptBytes]
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && cut && len(s)-i < utf8.UTFMax:
			// a rune split by the cut
		case r == utf8.RuneError, !unicode.IsPrint(r):
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	if cut {
		b.WriteString("…")
	}
	return b.String()
}
