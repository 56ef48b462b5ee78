package fleettest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Timeouts of the harness. They bound waits; nothing sleeps for them.
const (
	RunTimeout   = 60 * time.Second // a command that should end by itself ([Run])
	StartTimeout = 20 * time.Second // a process printing its ready line
	ExitTimeout  = 20 * time.Second // a process exiting after a signal ([Proc.Stop], [Proc.Kill])
)

// Cmd is a process to start.
type Cmd struct {
	Name string   // in messages; "" means the base name of Path
	Path string   // the binary, or a name looked up in PATH
	Args []string // the arguments after the binary
	Env  []string // the whole environment; nil means [Env]()
	Dir  string   // the working directory; "" means the test's
}

func (c Cmd) name() string {
	if c.Name != "" {
		return c.Name
	}
	return filepath.Base(c.Path)
}

// Env is the test process's environment without any TASKFLEET_ variable,
// so a developer's settings cannot leak into the processes under test, plus
// extra ("K=V", later ones win). GORACE gets atexit_sleep_ms=0: a
// race-built binary would otherwise sleep a second before exiting, which
// every short command would pay.
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TASKFLEET_") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	env = append(env, strings.TrimSpace("GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return append(env, extra...)
}

// Proc is a started binary in its own process group. Its output is kept in
// memory; it is killed (its whole group) when the test ends, and a data
// race it reports fails the test.
type Proc struct {
	name   string
	args   []string
	cmd    *exec.Cmd
	stdout SyncBuffer
	stderr SyncBuffer
	done   chan struct{} // closed when the process has exited and its output is read
	err    error         // cmd.Wait's error; read after done
}

// Start starts c. It fails the test if the binary cannot be started.
func Start(t testing.TB, c Cmd) *Proc {
	t.Helper()
	p := &Proc{name: c.name(), args: c.Args, done: make(chan struct{})}
	// Not the test's context: the cleanup below ends the whole process
	// group, which cancelling a context (killing the leader only) would race.
	p.cmd = exec.CommandContext(context.Background(), c.Path, c.Args...)
	p.cmd.Env = c.Env
	if p.cmd.Env == nil {
		p.cmd.Env = Env()
	}
	p.cmd.Dir = c.Dir
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = killGroup(p.cmd.Process.Pid)
			<-p.done
		}
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") || strings.Contains(p.stdout.String(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race:\n%s", p.name, p.Dump())
		}
	})
	return p
}

// Name is the name of the process in messages.
func (p *Proc) Name() string { return p.name }

// PID is the process id (and its group's).
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Stdout is what the process wrote on stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr is what the process wrote on stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Output is Stdout followed by Stderr.
func (p *Proc) Output() string { return p.stdout.String() + p.stderr.String() }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit code of an exited process: -1 when a signal ended
// it, -2 when waiting for it failed.
func (p *Proc) ExitCode() int {
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return -2
	}
	return p.cmd.ProcessState.ExitCode()
}

// Signal sends sig to the process (not its group).
func (p *Proc) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v\n%s", sig, p.name, err, p.Dump())
	}
}

// Kill sends SIGKILL to the process group and waits for the exit.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	if err := killGroup(p.PID()); err != nil && !p.Exited() {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	p.WaitExit(t, ExitTimeout)
}

// Stop sends SIGTERM to a running process, waits for it to exit and
// returns its exit code.
func (p *Proc) Stop(t testing.TB) int {
	t.Helper()
	if !p.Exited() {
		p.Signal(t, syscall.SIGTERM)
	}
	return p.WaitExit(t, ExitTimeout)
}

// WaitExit waits for the process to exit and returns its exit code; the
// test fails if it is still running after timeout.
func (p *Proc) WaitExit(t testing.TB, timeout time.Duration) int {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		t.Fatalf("%s did not exit within %s\n%s", p.name, timeout, p.Dump())
	}
	return p.ExitCode()
}

// Stream names one of a process's outputs.
type Stream int

const (
	Stdout Stream = iota
	Stderr
)

func (s Stream) String() string {
	if s == Stdout {
		return "stdout"
	}
	return "stderr"
}

func (p *Proc) stream(s Stream) *SyncBuffer {
	if s == Stdout {
		return &p.stdout
	}
	return &p.stderr
}

// WaitOutput waits until a line of the process's stream contains substr
// and returns that line (without its newline). The test fails if the
// process exits first or timeout passes.
func (p *Proc) WaitOutput(t testing.TB, timeout time.Duration, s Stream, substr string) string {
	t.Helper()
	var line string
	p.waitFor(t, timeout, fmt.Sprintf("print %q on %s", substr, s), func() bool {
		text := p.stream(s).String()
		i := strings.Index(text, substr)
		if i < 0 {
			return false
		}
		start := strings.LastIndexByte(text[:i], '\n') + 1
		line, _, _ = strings.Cut(text[start:], "\n")
		return true
	})
	return line
}

// WaitLog waits until a JSON log record on the process's stderr satisfies
// match, and returns it. what names the record in the failure message. The
// test fails if the process exits first or timeout passes.
func (p *Proc) WaitLog(t testing.TB, timeout time.Duration, what string, match func(rec map[string]any) bool) map[string]any {
	t.Helper()
	var found map[string]any
	p.waitFor(t, timeout, "log "+what, func() bool {
		sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && match(rec) {
				found = rec
				return true
			}
		}
		return false
	})
	return found
}

// LogMsg matches a log record by its message.
func LogMsg(msg string) func(rec map[string]any) bool {
	return func(rec map[string]any) bool { return rec["msg"] == msg }
}

// waitFor polls found until it holds, failing the test when the process
// exits first or timeout passes.
func (p *Proc) waitFor(t testing.TB, timeout time.Duration, what string, found func() bool) {
	t.Helper()
	err := poll(timeout, func() error {
		exited := p.Exited() // before looking: the output is complete once it has exited
		switch {
		case found():
			return nil
		case exited:
			return errExited
		}
		return errNotYet
	})
	switch {
	case errors.Is(err, errExited):
		t.Fatalf("%s exited before it did %s\n%s", p.name, what, p.Dump())
	case err != nil:
		t.Fatalf("%s did not %s within %s\n%s", p.name, what, timeout, p.Dump())
	}
}

var (
	errExited = errors.New("exited")
	errNotYet = errors.New("not yet")
)

// Dump renders the process's command line, state and output (the tail of
// each stream) for a failure message.
func (p *Proc) Dump() string {
	state := "running"
	if p.Exited() {
		state = fmt.Sprintf("exited: %v (code %d)", p.err, p.ExitCode())
	}
	return fmt.Sprintf("=== %s [%s] %s\n--- stdout\n%s\n--- stderr\n%s", p.name, state, strings.Join(p.args, " "),
		tail(p.stdout.String()), tail(p.stderr.String()))
}

// tail is the end of s, at most 16 KiB of it.
func tail(s string) string {
	const n = 16 << 10
	if len(s) <= n {
		return s
	}
	return "[…]" + s[len(s)-n:]
}

// Result is the outcome of a command run to completion.
type Result struct {
	Args           []string // the binary's base name and its arguments
	Code           int
	Stdout, Stderr string
	Elapsed        time.Duration
}

// Output is Stdout followed by Stderr.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// String renders the run for a failure message.
func (r Result) String() string {
	return fmt.Sprintf("$ %s\nexit code %d after %s\n--- stdout\n%s\n--- stderr\n%s",
		strings.Join(r.Args, " "), r.Code, r.Elapsed.Round(time.Millisecond), tail(r.Stdout), tail(r.Stderr))
}

// Run runs c to completion and returns its outcome; the test fails if it
// takes longer than [RunTimeout].
func Run(t testing.TB, c Cmd) Result {
	t.Helper()
	start := time.Now()
	p := Start(t, c)
	code := p.WaitExit(t, RunTimeout)
	return Result{
		Args: append([]string{filepath.Base(c.Path)}, c.Args...), Code: code,
		Stdout: p.Stdout(), Stderr: p.Stderr(), Elapsed: time.Since(start),
	}
}
