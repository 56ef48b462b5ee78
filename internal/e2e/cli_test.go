//go:build unix

package e2e_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// Secrets used by TestSecretsNeverPrinted; none may appear in any output.
const (
	mongoSecret = "s3cr3t-pw"
	natsSecret  = "n4ts-pw"
	tokenSecret = "t0k3n-pw"
)

// TestSecretsNeverPrinted passes credentials in store URIs, NATS URLs,
// --nats-password/--nats-token and their environment variables to failing
// dispatcher and worker runs (reliability §7.23): every run exits non-zero
// with an error about the right thing, and no byte of stdout or stderr
// (debug logs included) carries a secret. The NATS server refusing the
// credentials is a `dispatcher dev` with other ones.
func TestSecretsNeverPrinted(t *testing.T) {
	c := newCluster(t)
	listen := fleettest.FreeAddr(t)
	d := c.startDev(listen, "--nats-user", "bob", "--nats-password", "right-pw", "--log-level", "debug")
	mongoURI := "mongodb://alice:" + mongoSecret + "@127.0.0.1:1/?serverSelectionTimeoutMS=300"
	deadNATS := "nats://bob:" + natsSecret + "@" + fleettest.FreeAddr(t)
	refusingNATS := "nats://bob:" + natsSecret + "@" + listen

	type run struct {
		name string
		args []string
		env  []string
		want string // the error the run must report
	}
	runs := []run{
		{name: "URIs by flag", args: []string{"--store", mongoURI, "--nats", deadNATS}, want: "mongostore"},
		{name: "URIs by env", env: []string{"TASKFLEET_STORE=" + mongoURI, "TASKFLEET_NATS=" + deadNATS}, want: "mongostore"},
		{name: "store URI and --nats-password", args: []string{"--store", mongoURI, "--nats", deadNATS, "--nats-user", "bob", "--nats-password", natsSecret}, want: "mongostore"},
		{name: "store URI and TASKFLEET_NATS_PASSWORD", env: []string{"TASKFLEET_STORE=" + mongoURI, "TASKFLEET_NATS=" + deadNATS, "TASKFLEET_NATS_USER=bob", "TASKFLEET_NATS_PASSWORD=" + natsSecret}, want: "mongostore"},
		{name: "refused NATS URL with password", args: []string{"--nats", refusingNATS}, want: "authorization violation"},
		{name: "refused NATS URL by env", env: []string{"TASKFLEET_NATS=" + refusingNATS}, want: "authorization violation"},
		{name: "refused --nats-password", args: []string{"--nats", d.url, "--nats-user", "bob", "--nats-password", natsSecret}, want: "authorization violation"},
		{name: "refused TASKFLEET_NATS_PASSWORD", env: []string{"TASKFLEET_NATS=" + d.url, "TASKFLEET_NATS_USER=bob", "TASKFLEET_NATS_PASSWORD=" + natsSecret}, want: "authorization violation"},
		{name: "refused token in URL", args: []string{"--nats", "nats://" + tokenSecret + "@" + listen}, want: "authorization violation"},
		{name: "refused --nats-token", args: []string{"--nats", d.url, "--nats-token", tokenSecret}, want: "authorization violation"},
	}
	type binary struct {
		name string
		path string
		args []string
	}
	binaries := []binary{
		{name: "dispatcher stat", path: c.bin.Dispatcher, args: []string{"stat", "-o", "json"}},
		{name: "worker", path: c.bin.Worker, args: []string{"--owner", "secret-keeper", "--poll-interval", "100ms"}},
	}
	t.Run("runs", func(t *testing.T) {
		for _, b := range binaries {
			for _, r := range runs {
				t.Run(b.name+"/"+r.name, func(t *testing.T) {
					t.Parallel()
					env := c.env(append([]string{"TASKFLEET_LOG_LEVEL=debug"}, r.env...)...)
					res := fleettest.Run(t, fleettest.Cmd{Path: b.path, Args: append(append([]string{}, b.args...), r.args...), Env: env})
					require.NotEqual(t, 0, res.Code, res.String())
					out := res.Output()
					require.Contains(t, out, r.want, res.String())
					requireNoSecret(t, out, res.String())
				})
			}
		}
		t.Run("dev with a store URI and --nats-password", func(t *testing.T) {
			t.Parallel()
			env := c.env("TASKFLEET_LOG_LEVEL=debug")
			res := fleettest.Run(t, fleettest.Cmd{Path: c.bin.Dispatcher, Env: env, Args: []string{
				"dev", "--nats-listen", fleettest.FreeAddr(t), "--store", mongoURI, "--nats-user", "bob", "--nats-password", natsSecret}})
			require.NotEqual(t, 0, res.Code, res.String())
			require.Contains(t, res.Stderr, "mongostore", res.String())
			requireNoSecret(t, res.Output(), res.String())
		})
	})
	// The server that refused the credentials logged the attempts.
	requireNoSecret(t, d.Output(), d.Dump())
}

func requireNoSecret(t testing.TB, out, msg string) {
	t.Helper()
	for _, s := range []string{mongoSecret, natsSecret, tokenSecret} {
		require.NotContains(t, out, s, "a secret leaked\n%s", msg)
	}
}

// TestBadInputExitCodes checks that input errors exit 2 with a message
// naming the flag, variable, file and line at fault (DESIGN "Commands").
func TestBadInputExitCodes(t *testing.T) {
	c := newCluster(t)
	badYAML := filepath.Join(c.dir, "bad.yaml")
	require.NoError(t, os.WriteFile(badYAML, []byte(""+
		"- kind: sleep\n"+
		"  def: {duration: 1ms}\n"+
		"- kind: sleep\n"+
		"  def: {duration: 2ms}\n"+
		"  priority: high\n"), 0o644))
	badJSON := filepath.Join(c.dir, "bad.json")
	require.NoError(t, os.WriteFile(badJSON, []byte(`[
  {"kind": "sleep", "def": {"duration": "1ms"}},
  {"kind": "sleep", "def": {"duration": "2ms"}},
  {"kind": "sleep", "deff": {"duration": "3ms"}}
]
`), 0o644))
	noDef := filepath.Join(c.dir, "nodef.json")
	require.NoError(t, os.WriteFile(noDef, []byte(`[
  {"kind": "sleep", "def": {"duration": "1ms"}},
  {"kind": "sleep"}
]
`), 0o644))

	cases := []struct {
		name string
		path string
		args []string
		env  []string
		want []string // substrings of the output
	}{
		{name: "dispatcher unknown flag", path: c.bin.Dispatcher, args: []string{"stat", "--bogus"}, want: []string{"-bogus"}},
		{name: "dispatcher unknown command", path: c.bin.Dispatcher, args: []string{"frobnicate"}, want: []string{"frobnicate"}},
		{name: "worker unknown flag", path: c.bin.Worker, args: []string{"--bogus"}, want: []string{"-bogus"}},
		{name: "dispatcher --store postgres", path: c.bin.Dispatcher, args: []string{"stat", "--store", "postgres://x"}, want: []string{"--store"}},
		{name: "worker --store postgres", path: c.bin.Worker, args: []string{"--store", "postgres://x"}, want: []string{"--store"}},
		{name: "dispatcher TASKFLEET_STORE postgres", path: c.bin.Dispatcher, args: []string{"stat"}, env: []string{"TASKFLEET_STORE=postgres://x"}, want: []string{"TASKFLEET_STORE"}},
		{name: "worker TASKFLEET_STORE postgres with password", path: c.bin.Worker, env: []string{"TASKFLEET_STORE=postgres://alice:" + mongoSecret + "@x"}, want: []string{"TASKFLEET_STORE"}},
		{name: "worker TASKFLEET_CONCURRENCY", path: c.bin.Worker, env: []string{"TASKFLEET_CONCURRENCY=abc"}, want: []string{"TASKFLEET_CONCURRENCY"}},
		{name: "worker --kinds", path: c.bin.Worker, args: []string{"--kinds", "bogus"}, want: []string{"--kinds", "bogus"}},
		{name: "worker --lease", path: c.bin.Worker, args: []string{"--lease", "10ms"}, want: []string{"--lease"}},
		{name: "query --filter", path: c.bin.Dispatcher, args: []string{"query", "--filter", `{"status": {"$regex": "x"}}`}, want: []string{"--filter"}},
		{name: "create without -f", path: c.bin.Dispatcher, args: []string{"create"}, want: []string{"-f"}},
		{name: "create YAML bad entry", path: c.bin.Dispatcher, args: []string{"create", "-f", badYAML}, want: []string{badYAML + ":5:", "priority"}},
		{name: "create JSON unknown field", path: c.bin.Dispatcher, args: []string{"create", "-f", badJSON}, want: []string{badJSON + ":4:", "deff"}},
		{name: "create JSON entry without def", path: c.bin.Dispatcher, args: []string{"create", "-f", noDef}, want: []string{noDef + ":3:", "def"}},
		// A malformed mongodb:// URI is a configuration error like an
		// unsupported scheme.
		{name: "dispatcher malformed mongodb URI", path: c.bin.Dispatcher, args: []string{"stat", "--store", "mongodb://alice:" + mongoSecret + ":x@127.0.0.1:1/?serverSelectionTimeoutMS=300"}, want: []string{"--store"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := fleettest.Run(t, fleettest.Cmd{Path: tc.path, Args: tc.args, Env: c.env(tc.env...)})
			require.Equal(t, 2, res.Code, res.String())
			for _, w := range tc.want {
				require.Contains(t, res.Stderr, w, res.String())
			}
			requireNoSecret(t, res.Output(), res.String())
		})
	}
	r := c.dispatcher("query", "-o", "json")
	require.Equal(t, 2, r.Code, "no store was created: %s", r)
}

// TestGetShowsSleepResult runs one sleep task and reads it back with
// `dispatcher get`: the result is the sleep kind's, decoded, naming the
// worker that ran it, in JSON and in the table.
func TestGetShowsSleepResult(t *testing.T) {
	c := newCluster(t)
	w := c.startWorker("getter")
	id := c.create(sleepTasks(1, "1ms", "get"))[0]
	c.waitAll(30 * time.Second)

	out := c.mustDispatcher("get", id, "-o", "json")
	var tk task
	require.NoError(t, json.Unmarshal([]byte(out), &tk), out)
	require.Equal(t, "done", tk.Status, out)
	var res map[string]any
	require.NoError(t, json.Unmarshal(tk.Res, &res), "res must be the decoded result object, got %s", tk.Res)
	require.Equal(t, map[string]any{"slept": "1ms", "attempt": 1.0, "worker": w.owner}, res, out)

	table := c.mustDispatcher("get", id)
	require.Contains(t, lineWith(table, "res"), `"worker":"getter"`, table)
	require.NotContains(t, table, "undecodable", table)
	require.True(t, strings.HasPrefix(strings.TrimSpace(table), "FIELD"), table)
}

// NATS is optional: with the server unreachable a command still works, by
// polling, and the password in the NATS URL shows nowhere.
func TestUnreachableNATSWorksAndHidesPassword(t *testing.T) {
	c := newCluster(t)
	const secret = "unreachable-n4ts-pw"
	dead := "nats://bob:" + secret + "@" + fleettest.FreeAddr(t)
	env := c.env("TASKFLEET_LOG_LEVEL=debug")
	res := fleettest.Run(t, fleettest.Cmd{Path: c.bin.Dispatcher, Args: []string{"stat", "-o", "json", "--allow-missing", "--nats", dead}, Env: env})
	require.Equal(t, 0, res.Code, res.String())
	require.Contains(t, res.Stdout, `"waiting":0`)
	require.Contains(t, res.Stderr, "NATS is unreachable")
	require.NotContains(t, res.Output(), secret)
}
