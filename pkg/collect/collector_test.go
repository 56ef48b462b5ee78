package collect_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskfleet/taskfleet/pkg/collect"
)

// sliceSource yields its tasks in order, then err if set.
type sliceSource struct {
	tasks []collect.TaskResult
	err   error
}

func (s sliceSource) DoneTasks(context.Context) iter.Seq2[collect.TaskResult, error] {
	return func(yield func(collect.TaskResult, error) bool) {
		for _, t := range s.tasks {
			if !yield(t, nil) {
				return
			}
		}
		if s.err != nil {
			yield(collect.TaskResult{}, s.err)
		}
	}
}

// task builds a TaskResult in Qlib's task shape.
func task(id, model string, test []any, result map[string]any) collect.TaskResult {
	return collect.TaskResult{
		ID: id,
		Def: map[string]any{
			"model":   map[string]any{"class": model},
			"dataset": map[string]any{"kwargs": map[string]any{"segments": map[string]any{"test": test}}},
		},
		Result: result,
	}
}

func TestProcess(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	appendTag := func(tag string) collect.Processor {
		return collect.ProcessorFunc(func(_ context.Context, v any) (any, error) { return v.(string) + tag, nil })
	}

	t.Run("InOrderPerTopLevelKey", func(t *testing.T) {
		t.Parallel()
		in := collect.Collection{collect.StrKey("pred"): "p", collect.StrKey("ic"): "i"}
		out, err := collect.Process(ctx, in, appendTag("1"), appendTag("2"))
		require.NoError(t, err)
		require.Equal(t, collect.Collection{collect.StrKey("pred"): "p12", collect.StrKey("ic"): "i12"}, out)
		require.Equal(t, "p", in[collect.StrKey("pred")], "input is not modified")
	})

	t.Run("NoProcessors", func(t *testing.T) {
		t.Parallel()
		in := collect.Collection{collect.StrKey("a"): 1}
		out, err := collect.Process(ctx, in)
		require.NoError(t, err)
		require.Equal(t, in, out)
	})

	t.Run("NilProcessor", func(t *testing.T) {
		t.Parallel()
		_, err := collect.Process(ctx, collect.Collection{}, appendTag("x"), nil)
		require.ErrorIs(t, err, collect.ErrNotConfigured)
		require.ErrorContains(t, err, "processor 1 is nil")
	})

	t.Run("ErrorNamesKey", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("boom")
		fail := collect.ProcessorFunc(func(context.Context, any) (any, error) { return nil, boom })
		_, err := collect.Process(ctx, collect.Collection{collect.StrKey("pred"): 1}, fail)
		require.ErrorIs(t, err, boom)
		require.ErrorContains(t, err, "process (pred) with processor 0")
	})
}

func TestPoolCollector(t *testing.T) {
	t.Parallel()

	seg1 := []any{"2020-01-01", "2020-06-30"}
	seg2 := []any{"2020-07-01", "2020-12-31"}
	keyPaths := []string{"model.class", "dataset.kwargs.segments.test"}

	t.Run("KeysFromDottedPaths", func(t *testing.T) {
		t.Parallel()
		src := sliceSource{tasks: []collect.TaskResult{
			task("t1", "Linear", seg1, map[string]any{"pred": "p1", "ic": 0.1}),
			task("t2", "Linear", seg2, map[string]any{"pred": "p2", "ic": 0.2}),
			task("t3", "LGB", seg1, map[string]any{"pred": "p3", "ic": 0.3}),
		}}
		c := &collect.PoolCollector{Source: src, KeyPaths: keyPaths}
		got, err := c.Collect(t.Context())
		require.NoError(t, err)
		require.Equal(t, collect.Collection{
			collect.StrKey("pred"): collect.Collection{
				collect.MustKey("Linear", seg1): "p1",
				collect.MustKey("Linear", seg2): "p2",
				collect.MustKey("LGB", seg1):    "p3",
			},
		}, got, "only the default artifact pred is collected")

		c.Artifacts = []string{"pred", "ic"}
		got, err = c.Collect(t.Context())
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, 0.3, got[collect.StrKey("ic")].(collect.Collection)[collect.MustKey("LGB", seg1)])
	})

	t.Run("DefaultKeyIsTaskID", func(t *testing.T) {
		t.Parallel()
		src := sliceSource{tasks: []collect.TaskResult{task("t1", "Linear", seg1, map[string]any{"pred": 1})}}
		got, err := (&collect.PoolCollector{Source: src}).Collect(t.Context())
		require.NoError(t, err)
		require.Equal(t, collect.Collection{collect.StrKey("pred"): collect.Collection{collect.StrKey("t1"): 1}}, got)
	})

	t.Run("KeyFuncWins", func(t *testing.T) {
		t.Parallel()
		src := sliceSource{tasks: []collect.TaskResult{task("t1", "Linear", seg1, map[string]any{"pred": 1})}}
		c := &collect.PoolCollector{
			Source:   src,
			KeyPaths: []string{"no.such.path"},
			KeyFunc:  func(tr collect.TaskResult) (collect.Key, error) { return collect.StrKey("k-" + tr.ID), nil },
		}
		got, err := c.Collect(t.Context())
		require.NoError(t, err)
		require.Equal(t, 1, got[collect.StrKey("pred")].(collect.Collection)[collect.StrKey("k-t1")])
	})

	t.Run("Filter", func(t *testing.T) {
		t.Parallel()
		src := sliceSource{tasks: []collect.TaskResult{
			task("t1", "Linear", seg1, map[string]any{"pred": 1}),
			// Filtered out before the key is computed: its def lacks the key path.
			{ID: "t2", Def: map[string]any{}, Result: map[string]any{"pred": 2}},
		}}
		c := &collect.PoolCollector{
			Source:     src,
			KeyPaths:   []string{"model.class"},
			FilterFunc: func(tr collect.TaskResult) bool { return tr.ID != "t2" },
		}
		got, err := c.Collect(t.Context())
		require.NoError(t, err)
		require.Equal(t, collect.Collection{collect.StrKey("pred"): collect.Collection{collect.StrKey("Linear"): 1}}, got)
	})

	t.Run("MissingArtifactIsAnError", func(t *testing.T) {
		t.Parallel()
		src := sliceSource{tasks: []collect.TaskResult{
			task("t1", "Linear", seg1, map[string]any{"pred": 1}),
			task("t2", "Linear", seg2, map[string]any{"other": 2}),
		}}
		_, err := (&collect.PoolCollector{Source: src}).Collect(t.Context())
		require.ErrorIs(t, err, collect.ErrMissingArtifact)
		require.ErrorContains(t, err, `task t2: artifact "pred"`)
	})

	t.Run("MissingArtifactSkippedWithOnlyExist", func(t *testing.T) {
		t.Parallel()
		src := sliceSource{tasks: []collect.TaskResult{
			task("t1", "Linear", seg1, map[string]any{"pred": 1}),
			task("t2", "Linear", seg2, map[string]any{"other": 2}),
		}}
		c := &collect.PoolCollector{Source: src, OnlyExist: true, Artifacts: []string{"pred", "ic"}}
		got, err := c.Collect(t.Context())
		require.NoError(t, err)
		// t2 lacks pred and is skipped; no task has ic, so ic is absent (as in Qlib).
		require.Equal(t, collect.Collection{collect.StrKey("pred"): collect.Collection{collect.StrKey("t1"): 1}}, got)
	})

	t.Run("DuplicateKeyLaterWinsWithWarning", func(t *testing.T) {
		t.Parallel()
		core, logs := observer.New(zapcore.WarnLevel)
		src := sliceSource{tasks: []collect.TaskResult{
			task("t1", "Linear", seg1, map[string]any{"pred": "first"}),
			task("t2", "Linear", seg2, map[string]any{"pred": "other"}),
			task("t3", "Linear", seg1, map[string]any{"pred": "second"}),
		}}
		c := &collect.PoolCollector{Source: src, KeyPaths: keyPaths, Logger: zap.New(core)}
		got, err := c.Collect(t.Context())
		require.NoError(t, err)
		pred := got[collect.StrKey("pred")].(collect.Collection)
		require.Equal(t, "second", pred[collect.MustKey("Linear", seg1)])
		require.Equal(t, "other", pred[collect.MustKey("Linear", seg2)])

		entries := logs.FilterMessageSnippet("duplicate task key").AllUntimed()
		require.Len(t, entries, 1)
		fields := entries[0].ContextMap()
		require.Equal(t, "t3", fields["task_id"])
		require.Equal(t, "t1", fields["previous_task_id"])
		require.Equal(t, "pred", fields["artifact"])
		require.Equal(t, collect.MustKey("Linear", seg1).String(), fields["key"])
	})

	t.Run("RawArtifact", func(t *testing.T) {
		t.Parallel()
		tr := task("t1", "Linear", seg1, map[string]any{"pred": 1})
		c := &collect.PoolCollector{Source: sliceSource{tasks: []collect.TaskResult{tr}}, Artifacts: []string{collect.RawArtifact}}
		got, err := c.Collect(t.Context())
		require.NoError(t, err)
		require.Equal(t, tr, got[collect.StrKey("__raw")].(collect.Collection)[collect.StrKey("t1")])
	})

	t.Run("KeyPathMissing", func(t *testing.T) {
		t.Parallel()
		src := sliceSource{tasks: []collect.TaskResult{task("t1", "Linear", seg1, map[string]any{"pred": 1})}}
		_, err := (&collect.PoolCollector{Source: src, KeyPaths: []string{"model.kwargs.alpha"}}).Collect(t.Context())
		require.ErrorIs(t, err, collect.ErrPathNotFound)
		require.ErrorContains(t, err, "task t1: key: collect: path not found: model.kwargs")
	})

	t.Run("SourceError", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("store down")
		src := sliceSource{tasks: []collect.TaskResult{task("t1", "Linear", seg1, map[string]any{"pred": 1})}, err: boom}
		_, err := (&collect.PoolCollector{Source: src}).Collect(t.Context())
		require.ErrorIs(t, err, boom)
	})

	t.Run("NoSource", func(t *testing.T) {
		t.Parallel()
		_, err := (&collect.PoolCollector{}).Collect(t.Context())
		require.ErrorIs(t, err, collect.ErrNotConfigured)
	})

	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		src := sliceSource{tasks: []collect.TaskResult{task("t1", "Linear", seg1, map[string]any{"pred": 1})}}
		_, err := (&collect.PoolCollector{Source: src}).Collect(ctx)
		require.ErrorIs(t, err, context.Canceled)
	})

	t.Run("SourceFunc", func(t *testing.T) {
		t.Parallel()
		src := collect.SourceFunc(sliceSource{tasks: []collect.TaskResult{task("t1", "M", seg1, map[string]any{"pred": 1})}}.DoneTasks)
		got, err := (&collect.PoolCollector{Source: src}).Collect(t.Context())
		require.NoError(t, err)
		require.Len(t, got[collect.StrKey("pred")], 1)
	})

	t.Run("RollingPipeline", func(t *testing.T) {
		t.Parallel()
		// Qlib's task_manager_rolling collect step: key (model, test segment),
		// RollingGroup stitches each model's windows.
		src := sliceSource{tasks: []collect.TaskResult{
			task("t1", "Linear", seg2, map[string]any{"pred": frame(row("2020-07-01", "A", 2))}),
			task("t2", "Linear", seg1, map[string]any{"pred": frame(row("2020-01-02", "A", 1))}),
			task("t3", "LGB", seg1, map[string]any{"pred": frame(row("2020-01-02", "A", 9))}),
		}}
		c := &collect.PoolCollector{
			Source:     src,
			KeyPaths:   keyPaths,
			FilterFunc: func(tr collect.TaskResult) bool { return tr.Def["model"].(map[string]any)["class"] == "Linear" },
			Process:    []collect.Processor{collect.RollingGroup{}},
		}
		got, err := c.Collect(t.Context())
		require.NoError(t, err)
		stitched := got[collect.StrKey("pred")].(collect.Collection)
		require.Len(t, stitched, 1)
		requireScores(t, []scored{{"2020-01-02", "A", 1}, {"2020-07-01", "A", 2}},
			stitched[collect.StrKey("Linear")].(*collect.Frame))
	})
}

func TestMergeCollector(t *testing.T) {
	t.Parallel()

	fixed := func(c collect.Collection) collect.Collector {
		return collect.CollectorFunc(func(context.Context) (collect.Collection, error) { return c, nil })
	}
	a := fixed(collect.Collection{collect.StrKey("pred"): 1, collect.StrKey("ic"): 2})
	b := fixed(collect.Collection{collect.MustKey("x", "y"): 3})

	t.Run("NamePrepended", func(t *testing.T) {
		t.Parallel()
		m := &collect.MergeCollector{Collectors: map[string]collect.Collector{"A": a, "B": b}}
		got, err := m.Collect(t.Context())
		require.NoError(t, err)
		require.Equal(t, collect.Collection{
			collect.StrKey("A", "pred"):   1,
			collect.StrKey("A", "ic"):     2,
			collect.StrKey("B", "x", "y"): 3,
		}, got)
	})

	t.Run("MergeFuncAndProcess", func(t *testing.T) {
		t.Parallel()
		m := &collect.MergeCollector{
			Collectors: map[string]collect.Collector{"A": a, "B": b},
			MergeFunc: func(name string, k collect.Key) collect.Key {
				return collect.StrKey(name + "_" + k.StringAt(0))
			},
			Process: []collect.Processor{collect.ProcessorFunc(func(_ context.Context, v any) (any, error) {
				return v.(int) * 10, nil
			})},
		}
		got, err := m.Collect(t.Context())
		require.NoError(t, err)
		require.Equal(t, collect.Collection{
			collect.StrKey("A_pred"): 10,
			collect.StrKey("A_ic"):   20,
			collect.StrKey("B_x"):    30,
		}, got)
	})

	t.Run("SubCollectorProcessesFirst", func(t *testing.T) {
		t.Parallel()
		pool := &collect.PoolCollector{
			Source: sliceSource{tasks: []collect.TaskResult{
				task("t1", "Linear", []any{"2020-01-01", nil}, map[string]any{"pred": frame(row("2020-01-02", "A", 1))}),
			}},
			KeyPaths: []string{"model.class", "dataset.kwargs.segments.test"},
			Process:  []collect.Processor{collect.RollingGroup{}},
		}
		m := &collect.MergeCollector{Collectors: map[string]collect.Collector{"linear": pool}}
		got, err := m.Collect(t.Context())
		require.NoError(t, err)
		inner := got[collect.StrKey("linear", "pred")].(collect.Collection)
		require.IsType(t, &collect.Frame{}, inner[collect.StrKey("Linear")])
	})

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("boom")
		failing := collect.CollectorFunc(func(context.Context) (collect.Collection, error) { return nil, boom })
		_, err := (&collect.MergeCollector{Collectors: map[string]collect.Collector{"bad": failing}}).Collect(t.Context())
		require.ErrorIs(t, err, boom)
		require.ErrorContains(t, err, `collector "bad"`)

		_, err = (&collect.MergeCollector{Collectors: map[string]collect.Collector{"nil": nil}}).Collect(t.Context())
		require.ErrorIs(t, err, collect.ErrNotConfigured)
	})
}

func ExampleMergeCollector() {
	fixed := func(c collect.Collection) collect.Collector {
		return collect.CollectorFunc(func(context.Context) (collect.Collection, error) { return c, nil })
	}
	m := &collect.MergeCollector{Collectors: map[string]collect.Collector{
		"A": fixed(collect.Collection{collect.StrKey("pred"): "a's pred"}),
		"B": fixed(collect.Collection{collect.StrKey("pred"): "b's pred"}),
	}}
	got, _ := m.Collect(context.Background())
	for _, k := range got.Keys() {
		fmt.Println(k, got[k])
	}
	// Output:
	// (A, pred) a's pred
	// (B, pred) b's pred
}
