package program

import (
	"errors"
	"strings"
)

// SplitCommand splits a command line into argv the way a POSIX shell splits
// words, without running a shell: blanks separate words; single quotes keep
// everything up to the next single quote; double quotes keep everything but
// a backslash escapes ", \, $ and ` inside them; outside quotes a backslash
// keeps the next character (a backslash before a newline joins lines). Nothing
// is expanded: $VAR, ~, globs, ;, | and > are plain characters. An unclosed
// quote or a trailing backslash is an error.
func SplitCommand(s string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inWord  bool
		escaped bool
		quote   rune // 0, '\'' or '"'
	)
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
			if quote == '"' && !strings.ContainsRune("\"\\$`\n", r) {
				cur.WriteRune('\\') // inside double quotes other backslashes stay
			}
			if r == '\n' && quote == 0 {
				continue // line continuation
			}
			if r == '\n' && quote == '"' {
				continue
			}
			cur.WriteRune(r)
			inWord = true
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped = true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	switch {
	case escaped:
		return nil, errors.New("trailing backslash")
	case quote == '\'':
		return nil, errors.New("unclosed single quote")
	case quote == '"':
		return nil, errors.New("unclosed double quote")
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}
