package rolling

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPaths(t *testing.T) {
	t.Parallel()
	doc := map[string]any{
		"dataset": map[string]any{"kwargs": map[string]any{
			"handler":  "file:///h.pkl",
			"segments": map[string]any{"train": []any{"2020-01-02", nil}},
		}},
	}
	v, ok := GetPath(doc, "dataset.kwargs.segments.train.0")
	require.True(t, ok)
	require.Equal(t, "2020-01-02", v)
	v, ok = GetPath(doc, "dataset.kwargs.segments.train.1")
	require.True(t, ok)
	require.Nil(t, v)
	for _, p := range []string{"dataset.kwargs.segments.train.2", "dataset.kwargs.handler.kwargs", "model", "dataset.kwargs.segments.train.x"} {
		_, ok = GetPath(doc, p)
		require.False(t, ok, p)
	}

	require.NoError(t, SetPath(doc, "model.kwargs.horizon", 5))
	v, _ = GetPath(doc, "model.kwargs.horizon")
	require.Equal(t, 5, v)
	require.NoError(t, SetPath(doc, "dataset.kwargs.segments.train.1", "2020-02-01"))
	v, _ = GetPath(doc, "dataset.kwargs.segments.train.1")
	require.Equal(t, "2020-02-01", v)

	err := SetPath(doc, "dataset.kwargs.handler.kwargs.end_time", nil)
	require.ErrorIs(t, err, ErrInvalidTemplate)
	require.EqualError(t, err, `dataset.kwargs.handler: cannot set "kwargs.end_time" inside a string ("file:///h.pkl")`)
	require.ErrorContains(t, SetPath(doc, "dataset.kwargs.segments.train.5", 1), "no element")
	require.Error(t, SetPath(doc, "", 1))
}

func TestCopyTask(t *testing.T) {
	t.Parallel()
	orig := map[string]any{"a": map[string]any{"b": []any{map[string]any{"c": 1}}}, "s": []string{"x"}}
	cp := CopyTask(orig)
	require.Equal(t, orig, cp)
	cp["a"].(map[string]any)["b"].([]any)[0].(map[string]any)["c"] = 2
	cp["s"].([]string)[0] = "y"
	require.Equal(t, 1, orig["a"].(map[string]any)["b"].([]any)[0].(map[string]any)["c"])
	require.Equal(t, "x", orig["s"].([]string)[0])
	require.Nil(t, CopyTask(nil))
}

func TestReadWriteSegments(t *testing.T) {
	t.Parallel()
	task := map[string]any{"dataset": map[string]any{"kwargs": map[string]any{"segments": map[string]any{
		"train": []string{"2020-01-02", "2020-01-31"},
		"valid": []any{time.Date(2020, 2, 3, 0, 0, 0, 0, time.UTC), nil},
	}}}}
	segs, err := ReadSegments(task, "")
	require.NoError(t, err)
	require.Equal(t, "[2020-01-02, 2020-01-31]", segs["train"].String())
	require.Equal(t, "[2020-02-03, null]", segs["valid"].String())

	require.NoError(t, WriteSegments(task, "", segs))
	v, _ := GetPath(task, "dataset.kwargs.segments")
	require.Equal(t, map[string]any{
		"train": []any{"2020-01-02", "2020-01-31"},
		"valid": []any{"2020-02-03", nil},
	}, v)
}

func TestNormalizeTasks(t *testing.T) {
	t.Parallel()
	got := NormalizeTasks([]map[string]any{{
		"d":  time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC),
		"dt": time.Date(2020, 1, 2, 9, 30, 0, 0, time.UTC),
		"z":  time.Time{},
		"m":  map[any]any{1: []string{"a"}},
	}})
	require.Equal(t, []map[string]any{{
		"d":  "2020-01-02",
		"dt": "2020-01-02 09:30:00",
		"z":  nil,
		"m":  map[string]any{"1": []any{"a"}},
	}}, got)
}
