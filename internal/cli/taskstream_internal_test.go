package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPlainEntryReadsAsFields: an entry the one-pass read takes gives the
// spec the field-by-field read gives; the others go field by field.
func TestPlainEntryReadsAsFields(t *testing.T) {
	t.Parallel()
	tr := NewTaskReader(strings.NewReader(""), "t", TaskFileLimits{}.withDefaults())
	for _, raw := range []string{
		`{"kind": "noop", "def": {"run": "r", "seq": 1}}`,
		`{"def": {"model": {"class": "LGBModel", "kwargs": {"lr": 0.05, "leaves": [31, 63], "x": null}}}, "kind": "k"}`,
		"{\"kind\": \"k\",\n \"def\": \"caf\\u00e9\"}",
		`{"kind": "a", "kind": "b", "def": [1, 2.5, true]}`,
		`{"kind": "k", "def": 12345678901234567890}`,
	} {
		plain, err := tr.jsonEntry([]byte(raw), 3)
		require.NoError(t, err, raw)
		_, _, ok := plainJSONEntry([]byte(raw))
		require.True(t, ok, "one pass: %s", raw)
		fields, err := tr.jsonFields([]byte(raw), 3)
		require.NoError(t, err, raw)
		require.Equal(t, fields, plain, raw)
	}
	for _, raw := range []string{
		`{"kind": "k", "def": {}, "priority": 3}`,
		`{"kind": "k", "def": null}`,
		`{"kind": "", "def": 1}`,
		`{"kind": 1, "def": 1}`,
		`{"kind": "k", "Def": 1}`,
		`{"kind": "k", "def": 1`,
	} {
		_, _, ok := plainJSONEntry([]byte(raw))
		require.False(t, ok, "field by field: %s", raw)
	}
}
