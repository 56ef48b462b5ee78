package program_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/handlers/program"
)

// TestParseFileBounded: a programs file is held to the bounds of every
// YAML config (internal/yamlpos): an alias bomb or deep nesting is a bad
// spec naming the file, the line and the limit, refused before it is
// expanded.
func TestParseFileBounded(t *testing.T) {
	t.Parallel()
	var laughs strings.Builder
	laughs.WriteString("train:\n  command: [python3]\n  env:\n    A0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&laughs, "    A%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	for name, tc := range map[string]struct{ doc, want string }{
		"alias bomb": {laughs.String(), "progs.yaml: YAML document too complex: line 1: the document expands to more than 4194304 nodes"},
		"deep flow":  {"train:\n  command: " + strings.Repeat("[", 1000), "progs.yaml: YAML document too complex: line 2: collections nested more than 100 deep"},
	} {
		_, err := program.ParseFile([]byte(tc.doc), "progs.yaml", nil)
		require.ErrorIs(t, err, program.ErrBadSpec, name)
		require.ErrorContains(t, err, tc.want, name)
	}
}
