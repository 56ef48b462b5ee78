package program_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/handlers/program"
)

func TestSplitCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   \t ", nil},
		{"python3 examples/qlib/train.py", []string{"python3", "examples/qlib/train.py"}},
		{"  a   b\tc  ", []string{"a", "b", "c"}},
		{`python3 -c 'print("hi there")'`, []string{"python3", "-c", `print("hi there")`}},
		{`a "b c" d`, []string{"a", "b c", "d"}},
		{`a "" b ''`, []string{"a", "", "b", ""}},
		{`a\ b`, []string{"a b"}},
		{`a\\b`, []string{`a\b`}},
		{`"a\"b"`, []string{`a"b`}},
		{`"a\nb"`, []string{`a\nb`}},
		{"\"\\$HOME \\\\ \\`\"", []string{"$HOME \\ `"}},
		{`'a\b'`, []string{`a\b`}},
		{`x'y'"z"w`, []string{"xyzw"}},
		{"a \\\n b", []string{"a", "b"}},
		{`$HOME ~ *.py ; | >`, []string{"$HOME", "~", "*.py", ";", "|", ">"}},
		{`héllo "wörld"`, []string{"héllo", "wörld"}},
	} {
		got, err := program.SplitCommand(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	for in, msg := range map[string]string{
		`a 'b`:   "unclosed single quote",
		`a "b`:   "unclosed double quote",
		`a b\`:   "trailing backslash",
		`"a\"`:   "unclosed double quote",
		`'it''s`: "unclosed single quote",
	} {
		_, err := program.SplitCommand(in)
		require.EqualError(t, err, msg, in)
	}
}
