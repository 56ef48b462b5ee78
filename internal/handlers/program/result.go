package program

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// MaxResultBytes bounds the result read from stdout or the result file: 16
// MiB, MongoDB's document limit.
const MaxResultBytes = 16 << 20

// ErrBadResult means the program's result cannot be read or is not a JSON
// object of at most MaxResultBytes.
var ErrBadResult = errors.New("program: bad result")

// stdoutFilter passes stdout to the log, except the line that may be the
// result: a line that is a JSON object is held back until a later JSON
// object line replaces it (the held one then goes to the log). A line is
// buffered only while it can still be a JSON object (it starts with '{') and
// only up to MaxResultBytes; anything else streams through, so long lines
// and binary output cost no memory. os/exec writes from one goroutine;
// finish and result are called after Wait.
type stdoutFilter struct {
	log     *logBuffer
	state   int
	pending []byte // the current line: leading blanks, or a possible JSON object
	held    []byte // the last complete JSON object line
}

const (
	lineStart = iota // at the start of a line (pending holds blanks)
	candidate        // in a line starting with '{'
	passing          // in a line that is not a result
)

func (f *stdoutFilter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		switch f.state {
		case lineStart:
			c := p[0]
			switch c {
			case ' ', '\t', '\r':
				f.pending = append(f.pending, c)
				p = p[1:]
			case '\n':
				_, _ = f.log.Write(append(f.pending, '\n'))
				f.pending = f.pending[:0]
				p = p[1:]
			case '{':
				f.state = candidate
			default:
				_, _ = f.log.Write(f.pending)
				f.pending = f.pending[:0]
				f.state = passing
			}
		case passing:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				_, _ = f.log.Write(p)
				return n, nil
			}
			_, _ = f.log.Write(p[:i+1])
			p = p[i+1:]
			f.state = lineStart
		case candidate:
			i := bytes.IndexByte(p, '\n')
			chunk := p
			if i >= 0 {
				chunk = p[:i]
			}
			if len(f.pending)+len(chunk) > MaxResultBytes { // too long to be the result
				_, _ = f.log.Write(f.pending)
				f.pending = f.pending[:0]
				f.state = passing
				continue
			}
			f.pending = append(f.pending, chunk...)
			if i < 0 {
				return n, nil
			}
			f.endLine()
			p = p[i+1:]
		}
	}
	return n, nil
}

// endLine ends the candidate line in pending.
func (f *stdoutFilter) endLine() {
	line := bytes.TrimSpace(f.pending)
	if json.Valid(line) { // valid JSON starting with '{': an object
		if f.held != nil {
			_, _ = f.log.Write(append(f.held, '\n'))
		}
		f.held = bytes.Clone(line)
	} else {
		_, _ = f.log.Write(append(f.pending, '\n'))
	}
	f.pending = f.pending[:0]
	f.state = lineStart
}

// finish ends an unterminated last line.
func (f *stdoutFilter) finish() {
	switch f.state {
	case candidate:
		f.endLine()
	case lineStart:
		_, _ = f.log.Write(f.pending)
		f.pending = f.pending[:0]
	}
}

// result returns the program's result: the result file's JSON object when
// the file exists, else the held stdout line, else {}. source names where it
// came from, for errors.
func (f *stdoutFilter) result(resultFile string) (map[string]any, error) {
	fi, err := os.Stat(resultFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if f.held == nil {
			return map[string]any{}, nil
		}
		return parseObject(f.held, "stdout")
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %v", ErrBadResult, ResultFileEnv, err)
	case fi.Size() > MaxResultBytes:
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", ErrBadResult, ResultFileEnv, MaxResultBytes)
	}
	if f.held != nil { // not the result after all
		_, _ = f.log.Write(append(f.held, '\n'))
		f.held = nil
	}
	data, err := os.ReadFile(resultFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadResult, ResultFileEnv, err)
	}
	return parseObject(data, ResultFileEnv)
}

func parseObject(data []byte, source string) (map[string]any, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%w: %s: not JSON (%v): %q", ErrBadResult, source, err, snippet(data))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s: want a JSON object, got %s", ErrBadResult, source, typeName(v))
	}
	return m, nil
}

func snippet(b []byte) string {
	const n = 200
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
