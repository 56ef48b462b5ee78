package cli_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func readAll(t *testing.T, doc string, lim cli.TaskFileLimits) ([]cli.TaskEntry, error) {
	t.Helper()
	tr := cli.NewTaskReader(strings.NewReader(doc), "t", lim)
	var out []cli.TaskEntry
	for {
		e, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			require.ErrorIs(t, err, cli.ErrUsage)
			return out, err
		}
		out = append(out, e)
	}
}

func TestTaskReaderFormats(t *testing.T) {
	t.Parallel()
	want := []taskstate.TaskSpec{
		{Kind: "a", Def: map[string]any{"x": uint64(1)}, Priority: -3},
		{Kind: "b", Def: map[string]any{"l": []any{uint64(1), uint64(2)}, "m": []any{uint64(1), uint64(2)}}, MaxAttempts: taskstate.UnlimitedAttempts},
	}
	for name, doc := range map[string]string{
		"block list": "# tasks\n---\n- kind: a\n  def: {x: 1}\n  priority: -3\n\n# the second\n- kind: b\n  def:\n    l: &l [1, 2]\n    m: *l\n  max_attempts: 0\n",
		"indented":   "  - kind: a\n    def: {x: 1}\n    priority: -3\n  - kind: b\n    def: {l: [1, 2], m: [1, 2]}\n    max_attempts: 0\n",
		"flow YAML":  "# a flow list is read whole\n\n[{kind: a, def: {x: 1}, priority: -3},\n {kind: b, def: {l: [1, 2], m: [1, 2]}, max_attempts: 0}]\n",
	} {
		got, err := readAll(t, doc, cli.TaskFileLimits{})
		require.NoError(t, err, name)
		require.Len(t, got, 2, name)
		for i := range want {
			require.Equal(t, want[i], got[i].Spec, name)
		}
	}
	got, err := readAll(t, "\xef\xbb\xbf [\n {\"kind\": \"a\", \"def\": {\"x\": 1, \"s\": \"]\\\"[{\"}, \"priority\": -3},\n\n {\"kind\": \"b\",\n  \"def\": {}, \"max_attempts\": 0}\n]\n", cli.TaskFileLimits{})
	require.NoError(t, err)
	require.Equal(t, []int{2, 4}, []int{got[0].Line, got[1].Line})
	require.Equal(t, taskstate.TaskSpec{Kind: "a", Def: map[string]any{"x": 1.0, "s": "]\"[{"}, Priority: -3}, got[0].Spec)
	got, err = readAll(t, "[]", cli.TaskFileLimits{})
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestTaskReaderErrors(t *testing.T) {
	t.Parallel()
	ok := `{"kind": "a", "def": {}}`
	for _, tc := range []struct {
		name, doc string
		lim       cli.TaskFileLimits
		want      string
	}{
		{"json float priority", "[" + ok + ",\n{\"kind\": \"a\",\n \"def\": {},\n \"priority\": 1.5}]", cli.TaskFileLimits{}, "t:4: [1].priority: want an integer, got 1.5"},
		{"json exponent", `[{"kind": "a", "def": {}, "priority": 1e3}]`, cli.TaskFileLimits{}, "t:1: [0].priority: want an integer, got 1e3"},
		{"json large integer", `[{"kind": "a", "def": {}, "priority": 9223372036854775808}]`, cli.TaskFileLimits{}, "[0].priority: want an integer from -9223372036854775808 to 9223372036854775807, got 9223372036854775808"},
		{"json negative attempts", `[{"kind": "a", "def": {}, "max_attempts": -1}]`, cli.TaskFileLimits{}, "[0].max_attempts: want an integer from 0 to"},
		{"json unknown key", "[\n" + ok + ",\n{\"kind\": \"a\", \"def\": {\"deff\": 1},\n \"deff\": 1}]", cli.TaskFileLimits{}, "t:4: [1].deff: unknown field"},
		{"json not a map", "[\n[1]]", cli.TaskFileLimits{}, "t:2: [0]: want a map with kind and def, got a list"},
		{"json syntax", "[\n{\"kind\": \"a\",\n \"def\": {x}}]", cli.TaskFileLimits{}, "t:3: [0]: invalid character 'x'"},
		{"json unclosed", "[" + ok + ",", cli.TaskFileLimits{}, "unexpected end of file: the list is not closed"},
		{"json trailing", "[" + ok + "] x", cli.TaskFileLimits{}, `unexpected 'x' after the list`},
		{"json deep", "[{\"kind\": \"a\", \"def\":\n" + strings.Repeat("[", 100_000), cli.TaskFileLimits{}, "t:2: [0]: nested more than 100 deep (the limit; raise it with --max-depth)"},
		{"json entries", "[" + strings.Repeat(ok+",", 5) + ok + "]", cli.TaskFileLimits{MaxEntries: 5}, "t:1: more than 5 entries (the limit; raise it with --max-tasks)"},
		{"json entry size", "[\n" + `{"kind": "a", "def": "` + strings.Repeat("x", 2000) + `"}]`, cli.TaskFileLimits{MaxEntryBytes: 1000}, "t:2: [0]: the entry is larger than 1000 bytes (the limit; raise it with --max-entry-size)"},
		{"file size", "[" + strings.Repeat(ok+",\n", 100) + ok + "]", cli.TaskFileLimits{MaxBytes: 1000}, "the file is larger than 1000 bytes (the limit; raise it with --max-file-size)"},
		{"yaml inf", "- kind: a\n  def: {}\n- kind: a\n  def: {x: 1}\n  priority: .inf\n", cli.TaskFileLimits{}, "t:5: [1].priority: want an integer, got .inf"},
		{"yaml nan", "- kind: a\n  def: {}\n  priority: .nan\n", cli.TaskFileLimits{}, "t:3: [0].priority: want an integer, got .nan"},
		{"yaml huge", "- kind: a\n  def: {}\n  priority: 99999999999999999999\n", cli.TaskFileLimits{}, "t:3: [0].priority: want an integer from"},
		{"yaml uint64", "- kind: a\n  def: {}\n  priority: 9223372036854775808\n", cli.TaskFileLimits{}, "t:3: [0].priority: want an integer from"},
		{"yaml kind", "\n- kind: a\n  def: {}\n- kind: 7\n  def: {}\n", cli.TaskFileLimits{}, "t:4: [1]: kind is required"},
		{"yaml map", "# c\npool: x\n", cli.TaskFileLimits{}, "t:2: want a list of tasks, got a map"},
		{"yaml empty", "# nothing\n", cli.TaskFileLimits{}, "t: no tasks"},
		{"yaml laughs", "- kind: a\n  def:\n" + laughs(9), cli.TaskFileLimits{}, "t:1: YAML document too complex: the document expands to more than 4194304 nodes through its aliases (the limit; raise it with --max-nodes)"},
		{"yaml deep flow", "- kind: a\n  def: {}\n- kind: a\n  def: " + strings.Repeat("[", 200), cli.TaskFileLimits{}, "t:4: YAML document too complex: collections nested more than 100 deep"},
		{"yaml alias across entries", "- kind: a\n  def: &d {x: 1}\n- kind: b\n  def: *d\n", cli.TaskFileLimits{}, "(aliases refer to anchors of the same entry)"},
		{"yaml second document", "- kind: a\n  def: {}\n---\n- kind: b\n  def: {}\n", cli.TaskFileLimits{}, "t:3: a second YAML document"},
		{"yaml outdented", "  - kind: a\n    def: {}\n x: 1\n", cli.TaskFileLimits{}, `t:3: want the tasks as items of one list ("- kind: ..." at column 3)`},
		{"yaml entries", strings.Repeat("- kind: a\n  def: {}\n", 4), cli.TaskFileLimits{MaxEntries: 3}, "t:7: more than 3 entries"},
		{"yaml entry size", "- kind: a\n  def: {}\n- kind: a\n  def:\n" + strings.Repeat("    - xxxxxxxx\n", 100), cli.TaskFileLimits{MaxEntryBytes: 1000}, "t:3: [1]: the entry is larger than 1000 bytes"},
		{"yaml long line", "- kind: a\n  def: " + strings.Repeat("x", 2000) + "\n", cli.TaskFileLimits{MaxEntryBytes: 1000}, "t:2: a line longer than 1000 bytes"},
	} {
		_, err := readAll(t, tc.doc, tc.lim)
		require.Error(t, err, tc.name)
		require.Contains(t, err.Error(), tc.want, tc.name)
	}
}

// laughs is a "billion laughs": 10^levels nodes through aliases, indented
// to sit under a key at column 2.
func laughs(levels int) string {
	var b strings.Builder
	b.WriteString("    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "    a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	return b.String()
}
