package rolling

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWriteTable(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 60)
	tasks := []map[string]any{
		{
			"model":   map[string]any{"class": "A", "module_path": "a.b"},
			"dataset": map[string]any{"kwargs": map[string]any{"segments": map[string]any{"train": seg("2020-01-02", "2020-01-31"), "test": seg("2020-02-03", nil)}}},
			"note":    long,
		},
		{
			"model":   map[string]any{"class": "A", "module_path": "a.b"},
			"dataset": map[string]any{"kwargs": map[string]any{"segments": map[string]any{"test": seg(time.Date(2020, 3, 2, 0, 0, 0, 0, time.UTC), "2020-03-31"), "extra": seg(nil, nil)}}},
			"note":    "short\tone",
		},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteTable(&buf, tasks, ""))
	// model.module_path does not tell the tasks apart: no column. The note
	// does: shortened, with its tab replaced. A missing segment is "-".
	require.Equal(t, strings.Join([]string{
		"#  model  note                                      train                     test                      extra",
		"0  A      " + strings.Repeat("x", 39) + "…  [2020-01-02, 2020-01-31]  [2020-02-03, null]        -",
		"1  A      short one                                 -                         [2020-03-02, 2020-03-31]  [null, null]",
		"",
	}, "\n"), buf.String())

	buf.Reset()
	require.NoError(t, WriteTable(&buf, nil, ""))
	require.Equal(t, "#\n", buf.String())
}

func TestShortNames(t *testing.T) {
	t.Parallel()
	require.Equal(t,
		[]string{"model", "a.kwargs.end_time", "b.kwargs.end_time", "label.0", "horizon"},
		shortNames([]string{"model.class", "a.kwargs.end_time", "b.kwargs.end_time", "x.label.0", "model.kwargs.horizon"}))
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, []map[string]any{{
		"record": map[string]any{"model": "<MODEL>"},
		"seg":    []any{time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC), nil},
	}}))
	//nolint:testifylint // the indentation and the final newline are under test, not just the JSON
	require.Equal(t, `[
  {
    "record": {
      "model": "<MODEL>"
    },
    "seg": [
      "2020-01-02",
      null
    ]
  }
]
`, buf.String())

	buf.Reset()
	require.NoError(t, WriteJSON(&buf, nil))
	require.Equal(t, "[]\n", buf.String())
}
