package yamlpos_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/yamlpos"
)

func TestParseRefusesHostileNesting(t *testing.T) {
	t.Parallel()
	laughs := func(levels int) string {
		var b strings.Builder
		b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
		for i := 1; i <= levels; i++ {
			fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
		}
		return b.String()
	}
	var block strings.Builder
	for i := range 1200 {
		block.WriteString(strings.Repeat(" ", i) + "k:\n")
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"alias bomb", laughs(9), "expands to more than"},
		{"deep flow", strings.Repeat("[", 200_000) + strings.Repeat("]", 200_000), "line 1: collections nested more than 100 deep"},
		{"deep block", block.String(), "line 1002: a value nested at column 1001"},
		{"deep sequence", strings.Repeat("- ", 100_000) + "x\n", "line 1: a value nested at column"},
	} {
		start := time.Now()
		_, err := yamlpos.Parse([]byte(tc.doc))
		require.ErrorIs(t, err, yamlpos.ErrTooComplex, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
		require.Less(t, time.Since(start), 5*time.Second, "%s: refused before any expensive work", tc.name)
	}
	// Within the bounds: a few levels of aliases, brackets in strings and comments.
	f, err := yamlpos.Parse([]byte(laughs(3) + "s: \"[[[[\" # {{{{\nt: 'it''s [x'\n"))
	require.NoError(t, err)
	require.Equal(t, 4, f.Line(yamlpos.Path{"a3"}))
}
