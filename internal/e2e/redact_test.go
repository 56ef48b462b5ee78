//go:build unix

package e2e_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// leaks are connection strings and options in every shape a secret comes
// in, each with the parts that must never be shown.
var leaks = []struct {
	name, value string
	secrets     []string
}{
	{"space, mistyped scheme", "mongdb://bob:Sec r3t@h/", []string{"Sec r3t"}},
	{"quotes", `mongodb://bob:S"e'c9x@h/`, []string{`S"e'c9x`, `S\"e'c9x`, `e'c9x`}},
	{"percent-escape", "mongodb://u:p%40ssw0rd@h/", []string{"p%40ssw0rd", "p@ssw0rd"}},
	{"unknown scheme", "foo+bar://alice:pa55word@host:1/", []string{"pa55word"}},
	{"tls key password", "mongodb://h/?tls=true&tlsCertificateKeyFilePassword=hunter22", []string{"hunter22"}},
	{"auth properties", "mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN:tok99z", []string{"tok99z"}},
	{"token", "https://h/x?token=abc123q&page=2", []string{"abc123q"}},
}

// TestRedactionEveryOutput puts each leak into a task def, a handler's
// error, a program's output and a command line, and checks every place
// taskfleet shows them: the worker's log, get -o json (def and
// last_error), the query table, wait's failed list, logs, and the error
// of a command in console and JSON format.
func TestRedactionEveryOutput(t *testing.T) {
	c := newCluster(t)
	w := c.startWorkerIn("w1", "", nil, "--kinds", "sleep,leak", "--program", `leak=/bin/sh -c "cat >&2; exit 3"`)
	var specs []spec
	for _, l := range leaks {
		// sleep quotes its bad duration in the error; leak echoes the def.
		specs = append(specs, spec{Kind: "sleep", MaxAttempts: 1, Def: map[string]any{"duration": l.value}})
		specs = append(specs, spec{Kind: "leak", MaxAttempts: 1, Def: map[string]any{"uri": l.value}})
	}
	ids := c.create(specs)
	r := c.dispatcher("wait", "--timeout", "1m", "-o", "json")
	require.Equal(t, 4, r.Code, "%s", r)
	outputs := map[string]string{"wait -o json": r.Stdout + r.Stderr}
	for i, tk := range c.get(ids...) {
		require.Equal(t, "failed", tk.Status, "%+v", tk)
		require.Contains(t, tk.LastError, "***", "task %d: the error quoted the leak, redacted: %s", i, tk.LastError)
	}
	outputs["get -o json"] = c.mustDispatcher(append([]string{"get", "-o", "json"}, ids...)...)
	outputs["query"] = c.mustDispatcher("query")
	outputs["logs"] = c.mustDispatcher("logs", "--id", ids[1])
	require.Contains(t, outputs["logs"], "mongdb://***@h/", "the program's output, redacted")
	for _, l := range leaks {
		for _, format := range []string{"console", "json"} {
			store := l.value
			if strings.HasPrefix(store, "mongodb://") {
				// Fail fast: the host does not exist.
				sep := map[bool]string{true: "&", false: "?"}[strings.Contains(store, "?")]
				store += sep + "serverSelectionTimeoutMS=300"
			}
			r := fleettest.Run(t, fleettest.Cmd{Path: c.bin.Dispatcher, Args: []string{"stat", "--store", store, "--log-format", format}, Env: fleettest.Env()})
			require.NotEqual(t, 0, r.Code, "%s", r)
			require.NotEmpty(t, r.Stderr)
			outputs["stat --store ("+l.name+", "+format+")"] = r.Stdout + r.Stderr
		}
	}
	fleettest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(w.Stderr(), ids[len(ids)-1]) {
			return errors.New("the worker has not logged the last task yet")
		}
		return nil
	})
	outputs["worker log"] = w.Stderr()

	for where, out := range outputs {
		for _, l := range leaks {
			for _, s := range l.secrets {
				require.NotContains(t, out, s, "%s shows the secret of %q", where, l.name)
			}
		}
	}
}
