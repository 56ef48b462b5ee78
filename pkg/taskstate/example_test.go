package taskstate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// TrainDef is the def of a training task.
type TrainDef struct {
	Model string
	Alpha float64
}

// TrainResult is what the handler commits.
type TrainResult struct {
	Model string
	Score float64
}

// A typed handler: the worker decodes each task's def into TrainDef and
// commits the TrainResult.
func Example_typedHandler() {
	dir, _ := os.MkdirTemp("", "taskfleet-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, _ := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(dir, "tasks.db")})
	defer store.Close()
	m, _ := taskstate.NewManager(taskstate.Config{Store: store, Pool: "example"})

	train := taskstate.Handle(func(ctx context.Context, def TrainDef) (TrainResult, error) {
		return TrainResult{Model: def.Model, Score: 1 / (1 + def.Alpha)}, nil
	})
	created, _ := m.Create(ctx, []taskstate.TaskSpec{
		{Kind: "train", Def: TrainDef{Model: "ridge", Alpha: 1}},
		{Kind: "train", Def: map[string]any{"Model": "ridge", "Alpha": 3.0}}, // as read from YAML
	}, taskstate.CreateOptions{})

	runner, _ := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, Handlers: map[string]taskstate.HandlerFunc{"train": train}, PollInterval: 10 * time.Millisecond,
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(runCtx) }()
	waited, _ := m.Wait(ctx, taskstate.WaitOptions{})
	stop()
	<-done

	fmt.Println("done:", waited.Counts[taskstate.StatusDone])
	for _, id := range created.IDs {
		task, _ := m.Get(ctx, id)
		res, _ := taskstate.DecodeAs[TrainResult](m.Codec(), task.Res)
		fmt.Printf("%s %.2f\n", res.Model, res.Score)
	}
	// Output:
	// done: 2
	// ridge 0.50
	// ridge 0.25
}
