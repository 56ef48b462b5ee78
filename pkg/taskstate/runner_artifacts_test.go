package taskstate_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// artEnv is a Manager over a real SQLite file whose artifact tables a
// test can count through a connection of its own.
type artEnv struct {
	m    *taskstate.Manager
	path string
}

func newArtEnv(t *testing.T) *artEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tasks.db")
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: path})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p", Backoff: func(int) time.Duration { return time.Millisecond }})
	require.NoError(t, err)
	return &artEnv{m: m, path: path}
}

// count returns the rows of artifact_chunks and artifacts, staged ones
// included.
func (e *artEnv) count(t *testing.T) (chunks, files int64) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.path)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM artifact_chunks`).Scan(&chunks))
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM artifacts`).Scan(&files))
	return chunks, files
}

// run creates one task per def, runs them with handler until none is
// waiting or running, and returns the ids.
func (e *artEnv) run(t *testing.T, cfg taskstate.RunnerConfig, handler taskstate.HandlerFunc, specs ...taskstate.TaskSpec) []string {
	t.Helper()
	for i := range specs {
		specs[i].Kind = "art"
	}
	res, err := e.m.Create(context.Background(), specs, taskstate.CreateOptions{})
	require.NoError(t, err)
	cfg.Manager, cfg.PollInterval = e.m, 2*time.Millisecond
	cfg.Handlers = map[string]taskstate.HandlerFunc{"art": handler}
	r, err := taskstate.NewRunner(cfg)
	require.NoError(t, err)
	stop := startRunner(t, r)
	waitDone(t, e.m, 30*time.Second)
	require.Eventually(t, func() bool { return r.InFlight() == 0 }, 10*time.Second, 5*time.Millisecond)
	stop()
	return res.IDs
}

func (e *artEnv) read(t *testing.T, id, name string) []byte {
	t.Helper()
	var b bytes.Buffer
	_, err := e.m.CopyArtifact(context.Background(), id, name, &b)
	require.NoError(t, err)
	return b.Bytes()
}

func (e *artEnv) names(t *testing.T, id string) []string {
	t.Helper()
	arts, err := e.m.Artifacts(context.Background(), id)
	require.NoError(t, err)
	names := []string{}
	for _, a := range arts {
		names = append(names, a.Name)
	}
	return names
}

func put(ctx context.Context, name string, data []byte) error {
	_, err := taskstate.Artifacts(ctx).Put(name, bytes.NewReader(data))
	return err
}

// patterned returns n bytes that differ with seed.
func patterned(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func TestRunnerArtifactsCommittedWithTheResult(t *testing.T) {
	e := newArtEnv(t)
	pred, model := patterned(3<<20+5, 1), []byte("weights")
	ids := e.run(t, taskstate.RunnerConfig{}, func(ctx context.Context, task *taskstate.Task, _ any) (any, error) {
		if err := put(ctx, "pred.parquet", pred); err != nil {
			return nil, err
		}
		return "trained", put(ctx, "model.json", model)
	}, taskstate.TaskSpec{Def: 1})
	task, err := e.m.Get(context.Background(), ids[0])
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusDone, task.Status)
	arts, err := e.m.Artifacts(context.Background(), ids[0])
	require.NoError(t, err)
	require.Len(t, arts, 2)
	sum := sha256.Sum256(model)
	require.Equal(t, taskstate.Artifact{TaskID: ids[0], Name: "model.json", Size: int64(len(model)), SHA256: hex.EncodeToString(sum[:]), Attempt: 1, CreatedAt: arts[0].CreatedAt}, arts[0])
	require.Equal(t, "pred.parquet", arts[1].Name)
	require.Equal(t, pred, e.read(t, ids[0], "pred.parquet"))
	chunks, files := e.count(t)
	require.Equal(t, int64(4+1), chunks, "1 MiB chunks: 4 for pred, 1 for model")
	require.Equal(t, int64(2), files)
}

// An attempt that fails, panics or returns its lease keeps nothing.
func TestRunnerFailedAttemptLeavesNoArtifact(t *testing.T) {
	e := newArtEnv(t)
	ids := e.run(t, taskstate.RunnerConfig{}, func(ctx context.Context, task *taskstate.Task, def any) (any, error) {
		if err := put(ctx, "pred.csv", patterned(2<<20, 3)); err != nil {
			return nil, err
		}
		if def == "panic" {
			panic("training crashed")
		}
		return nil, errors.New("training diverged")
	}, taskstate.TaskSpec{Def: "error", MaxAttempts: 2}, taskstate.TaskSpec{Def: "panic", MaxAttempts: 1})
	for _, id := range ids {
		task, err := e.m.Get(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, taskstate.StatusFailed, task.Status)
		require.Empty(t, e.names(t, id))
	}
	chunks, files := e.count(t)
	require.Zero(t, chunks)
	require.Zero(t, files)
}

// A retried attempt's artifacts are the task's, not a mix with the failed
// attempt's.
func TestRunnerRetriedAttemptReplacesArtifacts(t *testing.T) {
	e := newArtEnv(t)
	ids := e.run(t, taskstate.RunnerConfig{}, func(ctx context.Context, task *taskstate.Task, _ any) (any, error) {
		if err := put(ctx, "pred.csv", patterned(1<<20+1, byte(task.Attempts))); err != nil {
			return nil, err
		}
		if task.Attempts == 1 {
			if err := put(ctx, "debug.log", []byte("first attempt only")); err != nil {
				return nil, err
			}
			return nil, errors.New("flaky")
		}
		return "ok", nil
	}, taskstate.TaskSpec{Def: 1, MaxAttempts: 3})
	require.Equal(t, []string{"pred.csv"}, e.names(t, ids[0]))
	require.Equal(t, patterned(1<<20+1, 2), e.read(t, ids[0], "pred.csv"))
	arts, err := e.m.Artifacts(context.Background(), ids[0])
	require.NoError(t, err)
	require.Equal(t, 2, arts[0].Attempt)
	chunks, files := e.count(t)
	require.Equal(t, int64(2), chunks)
	require.Equal(t, int64(1), files)
}

// takeBack is a body that, once half read, has an admin take the task
// back (reset to failed: its lease is gone) before it goes on.
type takeBack struct {
	r    io.Reader
	left int
	do   func()
}

func (b *takeBack) Read(p []byte) (int, error) {
	if b.do != nil && b.left <= 0 {
		b.do()
		b.do = nil
	}
	n, err := b.r.Read(p[:min(len(p), max(b.left, 1))])
	b.left -= n
	return n, err
}

// The lease goes while an artifact is being written: the upload stops at
// its next chunk, and neither that artifact nor one put before it is
// left, whatever the handler returns.
func TestRunnerLeaseLostMidUploadLeavesNoArtifact(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprintf("handler_ignores_error=%v", ignore), func(t *testing.T) {
			e := newArtEnv(t)
			var putErr atomic.Value
			ids := e.run(t, taskstate.RunnerConfig{}, func(ctx context.Context, task *taskstate.Task, _ any) (any, error) {
				if err := put(ctx, "model.json", []byte("{}")); err != nil {
					return nil, err
				}
				body := &takeBack{r: bytes.NewReader(patterned(4<<20, 9)), left: 3 << 19, do: func() {
					if _, err := e.m.ResetStatus(context.WithoutCancel(ctx), taskstate.ByIDs(task.ID), taskstate.StatusFailed); err != nil {
						t.Error(err)
					}
				}}
				_, err := taskstate.Artifacts(ctx).Put("pred.csv", body)
				putErr.Store(err)
				if ignore {
					return "done anyway", nil
				}
				return nil, err
			}, taskstate.TaskSpec{Def: 1, MaxAttempts: 3})
			err, _ := putErr.Load().(error)
			require.ErrorIs(t, err, taskstate.ErrLeaseLost)
			task, gerr := e.m.Get(context.Background(), ids[0])
			require.NoError(t, gerr)
			require.Equal(t, taskstate.StatusFailed, task.Status, "the admin's reset stands")
			require.Empty(t, task.Res)
			require.Empty(t, e.names(t, ids[0]))
			chunks, files := e.count(t)
			require.Zero(t, chunks)
			require.Zero(t, files)
		})
	}
}

// An artifact over the limit fails the task at once, attempts left or not.
func TestRunnerArtifactOverLimitIsPermanent(t *testing.T) {
	e := newArtEnv(t)
	var putErr atomic.Value
	ids := e.run(t, taskstate.RunnerConfig{ArtifactLimits: taskstate.ArtifactLimits{MaxSize: 1000}},
		func(ctx context.Context, task *taskstate.Task, _ any) (any, error) {
			err := put(ctx, "pred.csv", patterned(1001, 0))
			putErr.Store(err)
			return nil, fmt.Errorf("save predictions: %w", err)
		}, taskstate.TaskSpec{Def: 1, MaxAttempts: 5})
	err, _ := putErr.Load().(error)
	require.ErrorIs(t, err, taskstate.ErrArtifactTooLarge)
	require.True(t, taskstate.IsPermanent(err))
	task, gerr := e.m.Get(context.Background(), ids[0])
	require.NoError(t, gerr)
	require.Equal(t, taskstate.StatusFailed, task.Status)
	require.Equal(t, 1, task.Attempts, "never retried")
	require.Contains(t, task.LastError, "pred.csv")
	require.Contains(t, task.LastError, "too large")
	chunks, files := e.count(t)
	require.Zero(t, chunks)
	require.Zero(t, files)
}

func TestArtifactsOutsideAnAttempt(t *testing.T) {
	_, err := taskstate.Artifacts(context.Background()).Put("x", bytes.NewReader(nil))
	require.ErrorIs(t, err, taskstate.ErrNoAttempt)
}

// The reaper removes what a dead attempt staged; a live attempt's staged
// artifacts and committed ones stay.
func TestReaperCleansUpStagedArtifacts(t *testing.T) {
	e := newArtEnv(t)
	ctx := context.Background()
	res, err := e.m.Create(ctx, []taskstate.TaskSpec{{Kind: "x", Def: 1}, {Kind: "x", Def: 2}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	claimed, err := e.m.Claim(ctx, taskstate.ClaimOptions{Owner: "dead:1", Lease: time.Hour, Limit: 2})
	require.NoError(t, err)
	require.Len(t, claimed, 2)
	for _, task := range claimed {
		_, err := e.m.StageArtifact(ctx, task, "pred.csv", bytes.NewReader(patterned(1<<20+1, 0)), taskstate.ArtifactLimits{})
		require.NoError(t, err)
	}
	// The first worker died; an admin failed its task (no reset to
	// waiting, which would remove its artifacts at once).
	_, err = e.m.ResetStatus(ctx, taskstate.ByIDs(claimed[0].ID), taskstate.StatusFailed)
	require.NoError(t, err)
	reaper, err := taskstate.NewReaper(taskstate.ReaperConfig{Manager: e.m})
	require.NoError(t, err)
	n, err := reaper.CleanupStaged(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	chunks, files := e.count(t)
	require.Equal(t, int64(2), chunks, "the live attempt's artifact stays")
	require.Equal(t, int64(1), files)
	require.NoError(t, e.m.PromoteArtifacts(ctx, claimed[1]))
	require.Equal(t, []string{"pred.csv"}, e.names(t, res.IDs[1]))
}
