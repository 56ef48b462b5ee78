package deploy

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskfleet/taskfleet/internal/fleettest"
	"github.com/taskfleet/taskfleet/pkg/events"
)

// TestWorkerNATSAuthentication runs the real worker against a NATS server
// that requires a user and password: with the credentials (by environment,
// or in the URL) it connects and runs a task; without them, or with a wrong
// password, it exits non-zero with an authorization error. The password
// never appears in any output.
func TestWorkerNATSAuthentication(t *testing.T) {
	t.Parallel()
	const user = "fleet"
	password := fmt.Sprintf("pw-%d-%x", os.Getpid(), time.Now().UnixNano())
	dir := t.TempDir()
	srv, err := events.StartEmbedded(events.EmbeddedConfig{User: user, Password: password, StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	natsURL := srv.ClientURL()
	worker, dispatcher := binary(t, "worker"), binary(t, "dispatcher")

	noSecret := func(t *testing.T, what, out string, secrets ...string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s output contains the secret %q:\n%s", what, s, out)
			}
		}
	}

	t.Run("credentials from the environment", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		store := "sqlite://" + filepath.Join(dir, "tasks.db")
		env := []string{"TASKFLEET_NATS_USER=" + user, "TASKFLEET_NATS_PASSWORD=" + password}
		w := fleettest.Start(t, fleettest.Cmd{Path: worker, Dir: dir, Env: fleettest.Env(env...),
			Args: []string{"--store", store, "--nats", natsURL, "--log-format", "json", "--log-level", "debug"}})
		w.WaitLog(t, fleettest.StartTimeout, "worker started with events", func(r map[string]any) bool {
			return r["msg"] == "worker started" && r["events"] == true
		})
		tasks := filepath.Join(dir, "tasks.yaml")
		if err := os.WriteFile(tasks, []byte("- kind: noop\n  def: {name: auth}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// The dispatcher gets the same credentials by flag.
		r := run(t, dispatcher, "create", "-f", tasks, "--store", store, "--nats", natsURL,
			"--nats-user", user, "--nats-password", password)
		if r.Code != 0 {
			t.Fatalf("dispatcher create failed\n%s", r)
		}
		noSecret(t, "dispatcher create", r.Output(), password)
		r = run(t, dispatcher, "wait", "--timeout", "20s", "--quiet", "--store", store, "--nats", natsURL,
			"--nats-user", user, "--nats-password", password)
		if r.Code != 0 {
			t.Fatalf("dispatcher wait failed\n%s\nworker:\n%s", r, w.Dump())
		}
		noSecret(t, "dispatcher wait", r.Output(), password)
		if code := w.Stop(t); code != 0 {
			t.Errorf("worker exit code %d after SIGTERM, want 0", code)
		}
		noSecret(t, "worker", w.Output(), password)
	})

	t.Run("credentials in the URL", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		u, _ := url.Parse(natsURL)
		u.User = url.UserPassword(user, password)
		w := fleettest.Start(t, fleettest.Cmd{Path: worker, Dir: dir, Env: fleettest.Env("TASKFLEET_NATS=" + u.String()),
			Args: []string{"--store", "sqlite://" + filepath.Join(dir, "tasks.db"), "--log-format", "json", "--log-level", "debug"}})
		w.WaitLog(t, fleettest.StartTimeout, "worker started with events", func(r map[string]any) bool {
			return r["msg"] == "worker started" && r["events"] == true
		})
		if code := w.Stop(t); code != 0 {
			t.Errorf("worker exit code %d after SIGTERM, want 0", code)
		}
		noSecret(t, "worker", w.Output(), password)
	})

	refused := func(t *testing.T, env []string, secrets ...string) {
		t.Helper()
		dir := t.TempDir()
		w := fleettest.Start(t, fleettest.Cmd{Path: worker, Dir: dir, Env: fleettest.Env(env...),
			Args: []string{"--store", "sqlite://" + filepath.Join(dir, "tasks.db"), "--nats", natsURL}})
		code := w.WaitExit(t, fleettest.RunTimeout)
		out := w.Output()
		if code == 0 {
			t.Fatalf("worker exit code 0, want a failure:\n%s", out)
		}
		if !strings.Contains(strings.ToLower(out), "authorization") {
			t.Errorf("worker output does not say the server refused the authorization:\n%s", out)
		}
		noSecret(t, "worker", out, secrets...)
	}
	t.Run("no credentials", func(t *testing.T) {
		t.Parallel()
		refused(t, nil, password)
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		wrong := "wrong-" + password
		refused(t, []string{"TASKFLEET_NATS_USER=" + user, "TASKFLEET_NATS_PASSWORD=" + wrong}, password, wrong)
	})
}
