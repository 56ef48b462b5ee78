package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFileVariables: X_FILE reads X from a file (without its trailing
// newline); setting both is refused; an unreadable, empty or oversized
// file is a usage error naming X_FILE and never printing the contents.
func TestFileVariables(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(data), 0o600))
		return p
	}
	uri := write("uri", "mongodb://u:s3cret@mongo:27017/?replicaSet=rs0\n")
	parse := func(env map[string]string) (string, error) {
		fs := NewFlagSet("t", func(k string) string { return env[k] }, io.Discard)
		var store string
		fs.StringVar(&store, "store", "TASKFLEET_STORE", "default", "store")
		_, err := fs.Parse(nil)
		return store, err
	}
	got, err := parse(map[string]string{"TASKFLEET_STORE_FILE": uri})
	require.NoError(t, err)
	require.Equal(t, "mongodb://u:s3cret@mongo:27017/?replicaSet=rs0", got)

	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"both":    {map[string]string{"TASKFLEET_STORE": "x", "TASKFLEET_STORE_FILE": uri}, "TASKFLEET_STORE and TASKFLEET_STORE_FILE are both set"},
		"missing": {map[string]string{"TASKFLEET_STORE_FILE": filepath.Join(dir, "nope")}, "TASKFLEET_STORE_FILE: open "},
		"empty":   {map[string]string{"TASKFLEET_STORE_FILE": write("empty", "\n")}, "TASKFLEET_STORE_FILE: " + dir + "/empty: empty"},
		"big":     {map[string]string{"TASKFLEET_STORE_FILE": write("big", strings.Repeat("s3cret", 20000))}, "over 65536 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parse(tc.env)
			var ue *UsageError
			require.ErrorAs(t, err, &ue, "want a usage error")
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "s3cret")
		})
	}
}
