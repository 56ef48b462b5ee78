package program

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Defaults of Options.
const (
	DefaultMaxLogBytes   = 1 << 20
	DefaultGrace         = 10 * time.Second
	DefaultFlushInterval = time.Second
)

// waitDelay bounds how long a run waits for stdout and stderr to close after
// the program's group is gone, in case a process that left the group holds
// them.
const waitDelay = 5 * time.Second

// ErrTimeout means the spec's timeout elapsed; the process group was
// stopped.
var ErrTimeout = errors.New("program: timeout")

// Options are the worker's settings shared by its programs.
type Options struct {
	// Pool is the pool the worker serves, for TASKFLEET_POOL, the task
	// document and the log's LogRef.
	Pool string
	// Logger logs starts and ends (debug) and sink errors. Default: nop.
	Logger *zap.Logger
	// MaxLogBytes is how much of an attempt's log is kept (its end).
	// Default 1 MiB.
	MaxLogBytes int
	// Grace is the time between SIGTERM and SIGKILL to the program's
	// group on cancellation or timeout. Default 10 s.
	Grace time.Duration
	// LogSink receives the attempt's log while it runs and at its end.
	// Default: none (the tail still ends a failure's error).
	LogSink LogSink
	// FlushInterval is how often a running program's log is written to
	// LogSink when it grew. Default 1 s.
	FlushInterval time.Duration
	// BaseEnv returns the worker's environment, filtered into the
	// program's. Default os.Environ.
	BaseEnv func() []string
	// DecodeDef decodes the task's stored def (Task.Def) in phase two,
	// where the handler's param is phase one's result. Default
	// taskstate.Codec{}.Decode.
	DecodeDef func([]byte) (any, error)
	// WorkRoot is where the per-attempt work directories are made.
	// Default os.TempDir().
	WorkRoot string
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.MaxLogBytes <= 0 {
		o.MaxLogBytes = DefaultMaxLogBytes
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.BaseEnv == nil {
		o.BaseEnv = os.Environ
	}
	if o.DecodeDef == nil {
		o.DecodeDef = taskstate.Codec{}.Decode
	}
	return o
}

// ExitError reports a program that exited unsuccessfully.
type ExitError struct {
	// Program is the spec's name.
	Program string
	// Code is the exit status, -1 when a signal ended the program.
	Code int
	// State describes how it ended ("exit status 3", "signal: killed").
	State string
	// LogTail is the end of its log: the last 20 lines, at most 4 KiB.
	LogTail string
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("program %s: %s%s", e.Program, e.State, tailSuffix(e.LogTail))
}

func tailSuffix(tail string) string {
	if tail == "" {
		return ""
	}
	return "; log tail:\n" + tail
}

// Document is the task document a program receives on stdin and in
// TASKFLEET_TASK_FILE.
type Document struct {
	ID          string `json:"id"`
	Pool        string `json:"pool"`
	Kind        string `json:"kind"`
	Attempt     int    `json:"attempt"`
	MaxAttempts int    `json:"max_attempts"` // 0: unlimited
	Phase       string `json:"phase"`        // waiting or part_done
	Def         any    `json:"def"`
	Res         any    `json:"res"` // phase one's result in phase two, else null
}

// Handler returns the handler of spec's kind. The spec must be valid (see
// ValidateAll). The handler runs one attempt: it builds the task document
// from the running task (taskstate.TaskFromContext, else the task argument)
// and param — the def when the task was claimed from waiting, phase one's
// result when claimed from part_done (the def is then decoded from
// Task.Def) — runs the program, stores the files it left in its artifact
// directory (see storeArtifacts), and returns its result. A non-zero exit is
// an *ExitError; a timeout wraps ErrTimeout; cancellation returns the
// context's error and cause; every failure ends with the log's tail. Whether
// a success commits done or part_done is the Runner's choice (RunnerConfig.To).
func Handler(spec Spec, opts Options) taskstate.HandlerFunc {
	opts = opts.withDefaults()
	return func(ctx context.Context, t *taskstate.Task, param any) (any, error) {
		if ct := taskstate.TaskFromContext(ctx); ct != nil {
			t = ct
		}
		if t == nil {
			return nil, fmt.Errorf("%w: program %s: no task", taskstate.ErrDecode, spec.Name)
		}
		doc := Document{ID: t.ID, Pool: opts.Pool, Kind: spec.Name, Attempt: t.Attempts,
			MaxAttempts: max(t.MaxAttempts, 0), Phase: string(taskstate.StatusWaiting), Def: param}
		if t.ClaimedFrom == taskstate.StatusPartDone {
			doc.Phase = string(taskstate.StatusPartDone)
			doc.Res = param
			def, err := opts.DecodeDef(t.Def)
			if err != nil {
				return nil, fmt.Errorf("%w: program %s: phase two: def: %v", taskstate.ErrDecode, spec.Name, err)
			}
			doc.Def = def
		}
		return run(ctx, spec, opts, doc)
	}
}

// run runs one attempt of spec with doc.
func run(ctx context.Context, spec Spec, opts Options, doc Document) (map[string]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("program %s: %w", spec.Name, context.Cause(ctx))
	}
	docJSON, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: program %s: task document: %v", taskstate.ErrDecode, spec.Name, err)
	}
	log := opts.Logger.With(zap.String("program", spec.Name), zap.String("task", doc.ID), zap.Int("attempt", doc.Attempt))

	workDir, err := os.MkdirTemp(opts.WorkRoot, "taskfleet-"+spec.Name+"-*")
	if err != nil {
		return nil, fmt.Errorf("program %s: work dir: %w", spec.Name, err)
	}
	defer os.RemoveAll(workDir)
	taskFile := filepath.Join(workDir, "task.json")
	resultFile := filepath.Join(workDir, "result.json")
	artifactDir := filepath.Join(workDir, "artifacts")
	if err := os.WriteFile(taskFile, docJSON, 0o600); err != nil {
		return nil, fmt.Errorf("program %s: write task file: %w", spec.Name, err)
	}
	if err := os.Mkdir(artifactDir, 0o700); err != nil {
		return nil, fmt.Errorf("program %s: artifact dir: %w", spec.Name, err)
	}

	ctxVars := []string{
		TaskIDEnv + "=" + doc.ID,
		PoolEnv + "=" + doc.Pool,
		KindEnv + "=" + doc.Kind,
		AttemptEnv + "=" + strconv.Itoa(doc.Attempt),
		MaxAttemptsEnv + "=" + strconv.Itoa(doc.MaxAttempts),
		PhaseEnv + "=" + doc.Phase,
		TaskFileEnv + "=" + taskFile,
		ResultFileEnv + "=" + resultFile,
		WorkDirEnv + "=" + workDir,
		ArtifactDirEnv + "=" + artifactDir,
	}
	runCtx := ctx
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, spec.Timeout, ErrTimeout)
		defer cancel()
		deadline, _ := runCtx.Deadline()
		ctxVars = append(ctxVars, DeadlineEnv+"="+deadline.UTC().Format(time.RFC3339))
	}

	cmd := command(runCtx, spec.Command)
	cmd.Dir = spec.Dir
	cmd.Env = environ(opts.BaseEnv(), spec, ctxVars)
	cmd.Stdin = bytes.NewReader(docJSON)
	logBuf := newLogBuffer(opts.MaxLogBytes)
	stdout := &stdoutFilter{log: logBuf}
	cmd.Stdout = stdout
	cmd.Stderr = logBuf
	cmd.WaitDelay = max(opts.Grace, 0) + waitDelay
	group := newProcessGroup(cmd, opts.Grace)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("program %s: start %s: %w", spec.Name, spec.Command[0], err)
	}
	log.Debug("program started", zap.Strings("argv", spec.Command), zap.Int("pid", cmd.Process.Pid))

	ref := LogRef{Pool: doc.Pool, ID: doc.ID, Phase: taskstate.Status(doc.Phase), Attempt: doc.Attempt}
	flusher := startFlusher(ctx, opts, ref, logBuf, log)
	group.exited()
	waitErr := cmd.Wait()
	group.reaped()
	stdout.finish()
	var res map[string]any
	var resErr error
	if waitErr == nil {
		res, resErr = stdout.result(resultFile) // may move a held line to the log
	}
	flusher.stop()
	log.Debug("program ended", zap.Duration("elapsed", time.Since(start)), zap.Stringer("state", cmd.ProcessState))

	if waitErr != nil {
		tail := logBuf.errorTail()
		if runCtx.Err() != nil {
			if errors.Is(context.Cause(runCtx), ErrTimeout) && ctx.Err() == nil {
				return nil, fmt.Errorf("%w: program %s: stopped after %s%s", ErrTimeout, spec.Name, spec.Timeout, tailSuffix(tail))
			}
			if cause := context.Cause(ctx); cause != ctx.Err() { //nolint:errorlint // identity: Cause is Err itself when no cause was given
				// Keep both: callers test for context.Canceled or for the cause.
				return nil, fmt.Errorf("program %s: %w: %w%s", spec.Name, ctx.Err(), cause, tailSuffix(tail))
			}
			return nil, fmt.Errorf("program %s: %w%s", spec.Name, ctx.Err(), tailSuffix(tail))
		}
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			return nil, &ExitError{Program: spec.Name, Code: ee.ExitCode(), State: ee.String(), LogTail: tail}
		}
		return nil, fmt.Errorf("program %s: %w%s", spec.Name, waitErr, tailSuffix(tail))
	}
	if resErr != nil {
		return nil, fmt.Errorf("program %s: %w%s", spec.Name, resErr, tailSuffix(logBuf.errorTail()))
	}
	if err := storeArtifacts(ctx, spec.Name, artifactDir, log); err != nil {
		return nil, err
	}
	return res, nil
}

// flusher writes the log to the sink every FlushInterval while it grows,
// and once at the end.
type flusher struct {
	quit chan struct{}
	done chan struct{}
}

func startFlusher(ctx context.Context, opts Options, ref LogRef, buf *logBuffer, log *zap.Logger) *flusher {
	f := &flusher{quit: make(chan struct{}), done: make(chan struct{})}
	if opts.LogSink == nil {
		close(f.done)
		return f
	}
	// The last write must land even when the run was cancelled.
	ctx = context.WithoutCancel(ctx)
	written := int64(-1)
	write := func() {
		total, tail := buf.snapshot()
		if total == written {
			return
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := opts.LogSink.WriteLog(wctx, ref, total, tail); err != nil {
			log.Warn("program log not stored", zap.Error(err))
			return
		}
		written = total
	}
	go func() {
		defer close(f.done)
		tick := time.NewTicker(opts.FlushInterval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				if buf.written() != written {
					write()
				}
			case <-f.quit:
				write()
				return
			}
		}
	}()
	return f
}

// stop writes the log a last time and waits for it.
func (f *flusher) stop() {
	select {
	case <-f.done:
		return
	default:
	}
	close(f.quit)
	<-f.done
}
