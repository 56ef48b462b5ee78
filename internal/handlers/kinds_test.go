package handlers_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/taskfleet/taskfleet/internal/handlers"
	"github.com/taskfleet/taskfleet/internal/handlers/linear"
	"github.com/taskfleet/taskfleet/pkg/collect"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// linearDef is one window over a small synthetic market.
func linearDef() map[string]any {
	return map[string]any{
		"model": map[string]any{"class": "Ridge", "kwargs": map[string]any{"alpha": 1.0}},
		"dataset": map[string]any{"kwargs": map[string]any{
			"data": map[string]any{"synthetic": map[string]any{"start": "2019-01-01", "end": "2019-12-31", "instruments": 20, "features": 3, "seed": 3}},
			"segments": map[string]any{
				"train": []any{"2019-01-01", "2019-08-30"},
				"test":  []any{"2019-09-02", "2019-12-31"},
			},
		}},
	}
}

// The linear kind run by a Runner stores its predictions as the Parquet
// artifact pred.parquet (the frame a direct Train gives), and its result
// keeps only the metrics.
func TestLinearStoresPredictionsArtifact(t *testing.T) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
	require.NoError(t, err)
	defer s.Close()
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p"})
	require.NoError(t, err)
	created, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "linear", Def: linearDef()}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{Manager: m, PollInterval: 5 * time.Millisecond,
		Handlers: map[string]taskstate.HandlerFunc{"linear": handlers.Linear(&handlers.Datasets{})}})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(rctx) }()
	_, err = m.Wait(ctx, taskstate.WaitOptions{Timeout: time.Minute, Fallback: 5 * time.Millisecond})
	cancel()
	<-done
	require.NoError(t, err)

	task, err := m.Get(ctx, created.IDs[0])
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusDone, task.Status, task.LastError)
	res, err := m.DecodeRes(task)
	require.NoError(t, err)
	require.NotContains(t, res.(map[string]any), "pred", "the predictions are an artifact, not in the result")
	require.Contains(t, res.(map[string]any), "metrics")
	def, err := linear.DefFromMap(linearDef())
	require.NoError(t, err)
	panel, err := (&handlers.Datasets{}).Get(linearDef())
	require.NoError(t, err)
	direct, err := linear.Train(ctx, def, panel)
	require.NoError(t, err)
	want := direct.Pred
	require.Positive(t, want.Len())

	var b bytes.Buffer
	a, err := m.CopyArtifact(ctx, task.ID, handlers.PredArtifact, &b)
	require.NoError(t, err)
	require.Equal(t, "pred.parquet", a.Name)
	require.Equal(t, 1, a.Attempt)
	got, err := collect.ReadParquet(bytes.NewReader(b.Bytes()), int64(b.Len()), collect.ReadOptions{})
	require.NoError(t, err)
	require.True(t, got.HasLabel)
	require.Equal(t, want.Len(), got.Len())
	for i := range want.Rows {
		require.True(t, want.Rows[i].Datetime.Equal(got.Rows[i].Datetime))
		require.Equal(t, want.Rows[i].Instrument, got.Rows[i].Instrument)
		require.Equal(t, want.Rows[i].Score, got.Rows[i].Score)
	}
}
