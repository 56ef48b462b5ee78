package program

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// LogRef names the log of one attempt of a task.
type LogRef struct {
	Pool string
	ID   string
	// Phase is the status the attempt was claimed from (waiting or
	// part_done): attempts are counted per phase.
	Phase   taskstate.Status
	Attempt int
}

// LogSink stores attempts' logs (the lead implements it over the store).
//
// WriteLog is called every FlushInterval while the program runs, when its
// output grew, and once more when it has ended. total is the number of log
// bytes the program wrote so far in this attempt; tail is the last at most
// MaxLogBytes of them (so the bytes before tail are total-len(tail)). Each
// call supersedes the previous one for ref: a follower that printed up to
// byte n prints tail[max(0, n-(total-len(tail))):]. total never decreases
// for a ref. Calls for one ref never overlap. tail is the sink's to keep.
// An error is logged; it does not fail the task.
type LogSink interface {
	WriteLog(ctx context.Context, ref LogRef, total int64, tail []byte) error
}

// MemorySink is an in-memory LogSink, for tests.
type MemorySink struct {
	mu   sync.Mutex
	logs map[LogRef]MemoryLog
}

// MemoryLog is what a MemorySink holds for one attempt.
type MemoryLog struct {
	Total  int64
	Tail   []byte
	Writes int
}

// WriteLog implements LogSink.
func (s *MemorySink) WriteLog(_ context.Context, ref LogRef, total int64, tail []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs == nil {
		s.logs = map[LogRef]MemoryLog{}
	}
	l := s.logs[ref]
	s.logs[ref] = MemoryLog{Total: total, Tail: slices.Clone(tail), Writes: l.Writes + 1}
	return nil
}

// Get returns the log of ref.
func (s *MemorySink) Get(ref LogRef) (MemoryLog, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.logs[ref]
	return l, ok
}

// logBuffer keeps the last max bytes written to it and counts them all. It
// is written by the stdout and stderr copiers at once.
type logBuffer struct {
	mu    sync.Mutex
	max   int
	buf   []byte // the kept bytes are buf[len(buf)-min(len, max):]
	total int64
}

func newLogBuffer(limit int) *logBuffer { return &logBuffer{max: limit} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += int64(len(p))
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return len(p), nil
	}
	if len(b.buf)+len(p) > 2*b.max { // compact: amortised O(1) per byte
		keep := b.max - len(p)
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-keep:]...)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// snapshot returns the bytes written so far and a copy of the kept tail.
func (b *logBuffer) snapshot() (int64, []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.buf[max(len(b.buf)-b.max, 0):]
	return b.total, slices.Clone(kept)
}

func (b *logBuffer) written() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// Limits of the log tail that ends an error message.
const (
	tailLines = 20
	tailBytes = 4 << 10
)

// errorTail returns the end of the log for an error message: its last
// tailLines lines, at most tailBytes, as valid UTF-8, without the trailing
// newline. "..." marks a cut.
func (b *logBuffer) errorTail() string {
	_, all := b.snapshot()
	all = bytes.TrimRight(all, "\r\n")
	n := 0
	for i := len(all) - 1; i >= 0; i-- {
		if all[i] == '\n' {
			n++
			if n == tailLines {
				all = all[i+1:]
				break
			}
		}
	}
	cut := false
	if len(all) > tailBytes {
		all, cut = all[len(all)-tailBytes+3:], true
		for len(all) > 0 && !utf8.RuneStart(all[0]) { // do not start inside a rune
			all = all[1:]
		}
	}
	s := strings.ToValidUTF8(string(all), "\uFFFD")
	if cut {
		s = "..." + s
	}
	return s
}
