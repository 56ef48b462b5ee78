package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// The environment variables the program receives.
const (
	// TaskFileEnv names a file holding the task document (the same JSON as
	// stdin).
	TaskFileEnv = "TASKFLEET_TASK_FILE"
	// ResultFileEnv names a file the program may write its JSON result to;
	// when it exists after the run, it is read instead of stdout.
	ResultFileEnv = "TASKFLEET_RESULT_FILE"
)

// MaxResultBytes bounds the result read from stdout or the result file: 16
// MiB, MongoDB's document limit.
const MaxResultBytes = 16 << 20

const (
	tailLines = 20
	tailBytes = 4 << 10
	maxLine   = 64 << 10 // a longer stderr line is logged in pieces

	// waitDelay bounds how long Run waits for stdout and stderr to close after
	// the program ends, in case a process that left the group holds them.
	waitDelay = 5 * time.Second
)

var (
	// ErrTimeout means the def's timeout elapsed; the process group was
	// killed.
	ErrTimeout = errors.New("exec: timeout")

	// ErrBadResult means the program's result cannot be read or is not a
	// JSON object of at most MaxResultBytes.
	ErrBadResult = errors.New("exec: bad result")
)

// ExitError reports a program that exited unsuccessfully.
type ExitError struct {
	// Command is argv[0].
	Command string
	// Code is the exit status, -1 when a signal ended the program.
	Code int
	// State describes how it ended ("exit status 3", "signal: killed").
	State string
	// StderrTail is the end of its stderr: the last 20 lines, at most 4 KiB.
	StderrTail string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("exec: %s: %s", e.Command, e.State)
	if e.StderrTail != "" {
		msg += "; stderr tail:\n" + e.StderrTail
	}
	return msg
}

// Run runs def's command as the exec task kind and returns its JSON result.
//
// The program gets the task document as JSON on stdin and in the file named by
// $TASKFLEET_TASK_FILE. Its result is the JSON object in the file named by
// $TASKFLEET_RESULT_FILE if the program wrote that file, otherwise the JSON
// object on stdout (when stdout is not a single JSON value, its last non-empty
// line is tried, so a stray print before the result is tolerated). Empty
// output is an empty result. Each stderr line is logged to log as it
// arrives.
//
// The program runs in its own process group. When ctx is cancelled or the
// def's timeout elapses, the whole group is killed with SIGKILL; when the
// program exits, whatever it left running in its group is killed too, so a
// task never leaks processes. A non-zero exit is an *ExitError carrying the
// tail of stderr; a timeout wraps ErrTimeout, a cancellation ctx's error.
func Run(ctx context.Context, def Def, log *zap.Logger) (map[string]any, error) {
	if log == nil {
		log = zap.NewNop()
	}
	timeout, err := def.validate()
	if err != nil {
		return nil, err
	}
	doc, err := def.document()
	if err != nil {
		return nil, fmt.Errorf("%w: task document: %w", ErrBadDef, err)
	}
	name := def.Command[0]
	log = log.With(zap.String("command", name))

	dir, err := os.MkdirTemp("", "taskfleet-exec-*")
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	defer os.RemoveAll(dir)
	taskFile := filepath.Join(dir, "task.json")
	resultFile := filepath.Join(dir, "result.json")
	if err := os.WriteFile(taskFile, doc, 0o600); err != nil {
		return nil, fmt.Errorf("exec: write task file: %w", err)
	}

	runCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, timeout, ErrTimeout)
		defer cancel()
	}

	cmd := exec.CommandContext(runCtx, name, def.Command[1:]...)
	cmd.Dir = def.Dir
	cmd.Env = append(os.Environ(), def.Env...)
	cmd.Env = append(cmd.Env, TaskFileEnv+"="+taskFile, ResultFileEnv+"="+resultFile)
	cmd.Stdin = bytes.NewReader(doc)
	stdout := &cappedBuffer{limit: MaxResultBytes}
	cmd.Stdout = stdout
	stderr := &stderrLog{log: log}
	cmd.Stderr = stderr
	cmd.WaitDelay = waitDelay
	group := newProcessGroup(cmd)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec: start %s: %w", name, err)
	}
	log.Debug("exec started", zap.Strings("argv", def.Command), zap.Int("pid", cmd.Process.Pid))
	group.exited()
	waitErr := cmd.Wait()
	stderr.flush()
	log.Debug("exec ended", zap.Duration("elapsed", time.Since(start)), zap.Stringer("state", cmd.ProcessState))

	if waitErr != nil {
		tail := stderr.tail()
		if runCtx.Err() != nil {
			if cause := context.Cause(runCtx); errors.Is(cause, ErrTimeout) && ctx.Err() == nil {
				return nil, fmt.Errorf("%w: %s: killed after %s%s", ErrTimeout, name, timeout, tailSuffix(tail))
			}
			if cause := context.Cause(ctx); cause != ctx.Err() {
				// Keep both: callers test for context.Canceled or for the cause.
				return nil, fmt.Errorf("exec: %s: %w: %w%s", name, ctx.Err(), cause, tailSuffix(tail))
			}
			return nil, fmt.Errorf("exec: %s: %w%s", name, ctx.Err(), tailSuffix(tail))
		}
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			return nil, &ExitError{Command: name, Code: ee.ExitCode(), State: ee.String(), StderrTail: tail}
		}
		return nil, fmt.Errorf("exec: %s: %w%s", name, waitErr, tailSuffix(tail))
	}

	out, source, err := readResult(resultFile, stdout)
	var res map[string]any
	if err == nil {
		res, err = parseResult(out)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %w", ErrBadResult, name, source, err)
	}
	return res, nil
}

func tailSuffix(tail string) string {
	if tail == "" {
		return ""
	}
	return "; stderr tail:\n" + tail
}

func readResult(resultFile string, stdout *cappedBuffer) (data []byte, source string, err error) {
	fi, err := os.Stat(resultFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if stdout.overflow {
			return nil, "stdout", fmt.Errorf("larger than %d bytes", MaxResultBytes)
		}
		return stdout.buf.Bytes(), "stdout", nil
	case err != nil:
		return nil, ResultFileEnv, err
	case fi.Size() > MaxResultBytes:
		return nil, ResultFileEnv, fmt.Errorf("larger than %d bytes", MaxResultBytes)
	}
	data, err = os.ReadFile(resultFile)
	return data, ResultFileEnv, err
}

// parseResult decodes a JSON object: the whole output, or failing that its
// last non-empty line. Blank output is an empty result.
func parseResult(data []byte) (map[string]any, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return map[string]any{}, nil
	}
	var v any
	err := json.Unmarshal(data, &v)
	if err != nil {
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			if json.Unmarshal(bytes.TrimSpace(data[i+1:]), &v) == nil {
				err = nil
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("not JSON (%v): %q", err, snippet(data))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object, got %s", jsonKind(v))
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

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// cappedBuffer keeps the first limit bytes written and notes an overflow,
// while accepting (and dropping) the rest so the program never blocks.
type cappedBuffer struct {
	limit    int
	buf      bytes.Buffer
	overflow bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.limit - c.buf.Len(); room < len(p) {
		c.overflow = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

// stderrLog logs each line written to it and keeps the last lines for error
// messages. os/exec writes to it from one goroutine; tail is read after Wait.
type stderrLog struct {
	log *zap.Logger

	mu      sync.Mutex
	partial []byte
	last    []string // ring of the last tailLines lines, oldest first
}

func (s *stderrLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.partial = append(s.partial, p...)
			if len(s.partial) >= maxLine {
				s.emit()
			}
			break
		}
		s.partial = append(s.partial, p[:i]...)
		s.emit()
		p = p[i+1:]
	}
	return n, nil
}

// emit logs and records the pending line. s.mu is held.
func (s *stderrLog) emit() {
	line := strings.TrimRight(string(s.partial), "\r")
	s.partial = s.partial[:0]
	s.log.Info("stderr", zap.String("line", line))
	if len(s.last) == tailLines {
		copy(s.last, s.last[1:])
		s.last = s.last[:tailLines-1]
	}
	s.last = append(s.last, line)
}

// flush emits a last line that had no newline.
func (s *stderrLog) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) > 0 {
		s.emit()
	}
}

// tail returns the last lines, cut to their last tailBytes bytes.
func (s *stderrLog) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := strings.Join(s.last, "\n")
	if len(t) > tailBytes {
		t = t[len(t)-tailBytes+3:]
		for len(t) > 0 && !utf8.RuneStart(t[0]) { // do not start inside a rune
			t = t[1:]
		}
		t = "..." + t
	}
	return t
}
