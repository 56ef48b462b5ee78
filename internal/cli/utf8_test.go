package cli

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"

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

// TestUTF8ReaderSplitRunes feeds a file one byte at a time: a valid rune
// split across reads passes, an invalid byte is named by line and column.
func TestUTF8ReaderSplitRunes(t *testing.T) {
	read := func(s string) error {
		_, err := io.ReadAll(newUTF8Reader(iotest.OneByteReader(strings.NewReader(s)), "f"))
		return err
	}
	require.NoError(t, read("a\né€😀\n"))
	require.EqualError(t, read("a\né\xff"), "f:2:2: invalid UTF-8 (byte 0xff): task files and their defs must be UTF-8")
	require.ErrorContains(t, read("ok\xe2\x82"), "a truncated character at the end")
}
