package collect_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/collect"
)

func TestKey(t *testing.T) {
	t.Parallel()

	t.Run("Equality", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, collect.StrKey("a", "b"), collect.MustKey("a", "b"))
		require.Equal(t, collect.MustKey([]string{"x", "y"}), collect.MustKey([]any{"x", "y"}))
		require.Equal(t, collect.MustKey(map[string]any{"b": 1, "a": 2}), collect.MustKey(map[string]int{"a": 2, "b": 1}))
		require.NotEqual(t, collect.MustKey("1"), collect.MustKey(1))
		require.NotEqual(t, collect.StrKey("a", "b"), collect.StrKey("a,b"))
		require.NotEqual(t, collect.StrKey(), collect.StrKey(""))
		require.Equal(t, collect.Key{}, collect.StrKey())

		m := map[collect.Key]int{collect.StrKey("a"): 1}
		m[collect.MustKey("a")]++
		require.Equal(t, 2, m[collect.StrKey("a")])
	})

	t.Run("Accessors", func(t *testing.T) {
		t.Parallel()
		k := collect.MustKey("LGBModel", []string{"2017-01-01", "2017-06-30"}, 3, true, nil)
		require.Equal(t, 5, k.Len())
		require.Equal(t, "LGBModel", k.At(0))
		require.Equal(t, []any{"2017-01-01", "2017-06-30"}, k.At(1))
		require.Equal(t, 3.0, k.At(2))
		require.Equal(t, true, k.At(3))
		require.Nil(t, k.At(4))
		require.Equal(t, "LGBModel", k.StringAt(0))
		require.Equal(t, `["2017-01-01","2017-06-30"]`, k.StringAt(1))
		require.Equal(t, collect.MustKey("LGBModel", []string{"2017-01-01", "2017-06-30"}), k.Slice(0, 2))
		require.Equal(t, collect.StrKey(), k.Slice(0, 0))
		require.Equal(t, `(LGBModel, ["2017-01-01","2017-06-30"], 3, true, null)`, k.String())
		require.Equal(t, 0, collect.Key{}.Len())
		require.Equal(t, "()", collect.Key{}.String())
		require.Panics(t, func() { k.At(5) })
	})

	t.Run("Concat", func(t *testing.T) {
		t.Parallel()
		a, b := collect.StrKey("a"), collect.MustKey("b", 2)
		require.Equal(t, collect.MustKey("a", "b", 2), a.Concat(b))
		require.Equal(t, a, a.Concat(collect.Key{}))
		require.Equal(t, b, collect.Key{}.Concat(b))
	})

	t.Run("TimeIsRFC3339", func(t *testing.T) {
		t.Parallel()
		k := collect.MustKey(time.Date(2017, 1, 3, 0, 0, 0, 0, time.UTC))
		require.Equal(t, collect.StrKey("2017-01-03T00:00:00Z"), k)
	})

	t.Run("Unencodable", func(t *testing.T) {
		t.Parallel()
		_, err := collect.NewKey("ok", math.NaN())
		require.ErrorContains(t, err, "key element 1")
		require.Panics(t, func() { collect.MustKey(make(chan int)) })
	})

	t.Run("TextRoundTrip", func(t *testing.T) {
		t.Parallel()
		k := collect.MustKey("a", []any{"x", 1}, map[string]any{"z": 1, "a": "b"}, int64(1)<<60)
		text, err := k.MarshalText()
		require.NoError(t, err)
		require.JSONEq(t, `["a",["x",1],{"a":"b","z":1},1152921504606846976]`, string(text))
		var back collect.Key
		require.NoError(t, back.UnmarshalText(text))
		require.Equal(t, k, back)

		// As a JSON map key.
		b, err := json.Marshal(map[collect.Key]int{k: 7})
		require.NoError(t, err)
		var m map[collect.Key]int
		require.NoError(t, json.Unmarshal(b, &m))
		require.Equal(t, 7, m[k])

		require.Error(t, back.UnmarshalText([]byte(`"not an array"`)))
	})

	t.Run("Compare", func(t *testing.T) {
		t.Parallel()
		c := collect.Collection{collect.StrKey("b"): 1, collect.StrKey("a"): 2, collect.StrKey("a", "z"): 3}
		require.Equal(t, []collect.Key{collect.StrKey("a"), collect.StrKey("a", "z"), collect.StrKey("b")}, c.Keys())
	})
}

func TestLookupPath(t *testing.T) {
	t.Parallel()
	doc := map[string]any{
		"model": map[string]any{"class": "LGBModel"},
		"dataset": map[string]any{"kwargs": map[string]any{"segments": map[string]any{
			"test":  []any{"2017-01-01", "2017-06-30"},
			"train": [2]string{"2010-01-01", "2016-12-31"},
		}}},
		"typed": map[string]int{"n": 3},
	}
	for _, tc := range []struct {
		path string
		want any
	}{
		{"model.class", "LGBModel"},
		{"dataset.kwargs.segments.test", []any{"2017-01-01", "2017-06-30"}},
		{"dataset.kwargs.segments.test.1", "2017-06-30"},
		{"dataset.kwargs.segments.train.0", "2010-01-01"},
		{"typed.n", 3},
	} {
		got, err := collect.LookupPath(doc, tc.path)
		require.NoError(t, err, tc.path)
		require.Equal(t, tc.want, got, tc.path)
	}
	for _, tc := range []struct{ path, msg string }{
		{"model.kwargs", "path not found: model.kwargs"},
		{"model.class.x", "model.class.x: model.class is a string, not a map or list"},
		{"dataset.kwargs.segments.test.2", `no index "2" in a list of 2`},
		{"dataset.kwargs.segments.train.x", `no index "x" in a list of 2`},
		{"", "empty path"},
	} {
		_, err := collect.LookupPath(doc, tc.path)
		require.ErrorIs(t, err, collect.ErrPathNotFound, tc.path)
		require.ErrorContains(t, err, tc.msg, tc.path)
	}
	_, err := collect.LookupPath("scalar", "a")
	require.ErrorContains(t, err, "the document is a string")
}
