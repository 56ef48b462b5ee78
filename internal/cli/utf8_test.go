package cli

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseTaskFileInvalidUTF8(t *testing.T) {
	_, err := ParseTaskFile([]byte("- kind: k\n  def: {name: \"é\xffx\"}\n"), "tasks.yaml")
	require.ErrorIs(t, err, ErrUsage)
	require.EqualError(t, err, "tasks.yaml:2:17: invalid UTF-8 (byte 0xff): task files and their defs must be UTF-8")
	specs, err := ParseTaskFile([]byte("- kind: k\n  def: {name: \"é\"}\n"), "tasks.yaml")
	require.NoError(t, err)
	require.Len(t, specs, 1)
}
