package cli

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseTaskFileInvalidUTF8(t *testing.T) {
	_, err := ParseTaskFile([]byte("- kind: k\n  def: {name: \"é\xffx\"}\n"), "tasks.yaml")
	require.True(t, errors.Is(err, ErrUsage), "%v", err)
	require.EqualError(t, err, "tasks.yaml:2:17: invalid UTF-8 (byte 0xff): task files and their defs must be UTF-8")
	specs, err := ParseTaskFile([]byte("- kind: k\n  def: {name: \"é\"}\n"), "tasks.yaml")
	require.NoError(t, err)
	require.Len(t, specs, 1)
}
