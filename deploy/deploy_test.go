package deploy

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

var update = flag.Bool("update", false, "rewrite the generated configuration reference in README.md from the binaries' --help")

// TestMain removes the binaries the tests built (fleettest.Build) and fails
// the run on leaked goroutines.
func TestMain(m *testing.M) { fleettest.Main(m) }

// The services deploy/compose.yaml must define.
var wantServices = []string{"mongo", "nats", "worker", "exporter", "dispatcher", "prometheus", "grafana"}

// noEnv interpolates compose.yaml with every variable unset: the defaults a
// user gets from `docker compose up` with no .env file.
var noEnv = map[string]string{}

// TestComposeFile checks the structure of compose.yaml: it decodes strictly
// (a misspelt key fails with its line), defines every service, and every
// dependency, named volume, bind mount and build context exists.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	cf := loadCompose(t, noEnv)
	for _, name := range wantServices {
		if cf.Services[name] == nil {
			t.Errorf("compose.yaml: no service %q", name)
		}
	}
	for name, s := range cf.Services {
		if s.Image == "" {
			t.Errorf("service %s: no image", name)
		}
		for _, dep := range s.dependsOn() {
			if cf.Services[dep] == nil {
				t.Errorf("service %s depends on %q, which compose.yaml does not define", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, ok := strings.Cut(v, ":")
			if !ok {
				t.Errorf("service %s: volume %q: want SOURCE:TARGET", name, v)
				continue
			}
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				p := src
				if !filepath.IsAbs(p) {
					p = repoPath(t, "deploy", src)
				}
				if _, err := os.Stat(p); err != nil {
					t.Errorf("service %s: bind mount %q: %v", name, v, err)
				}
			} else if _, ok := cf.Volumes[src]; !ok {
				t.Errorf("service %s: named volume %q is not declared under volumes:", name, src)
			}
		}
		if s.Build != nil {
			ctx := repoPath(t, "deploy", s.Build.Context)
			df := s.Build.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			if _, err := os.Stat(filepath.Join(ctx, df)); err != nil {
				t.Errorf("service %s: build: %v", name, err)
			}
			if filepath.Clean(ctx) != repoRoot(t) {
				t.Errorf("service %s: build context %s is not the repository root", name, ctx)
			}
		}
		if hc := s.Healthcheck; hc != nil {
			if len(hc.Test) < 2 || (hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL") {
				t.Errorf("service %s: healthcheck test must be [CMD, ...] or [CMD-SHELL, ...], got %q", name, hc.Test)
			}
			for _, d := range []string{hc.Interval, hc.Timeout, hc.StartPeriod} {
				if _, err := time.ParseDuration(d); d != "" && err != nil {
					t.Errorf("service %s: healthcheck: %v", name, err)
				}
			}
		}
		if s.StopGracePeriod != "" {
			if _, err := time.ParseDuration(s.StopGracePeriod); err != nil {
				t.Errorf("service %s: stop_grace_period: %v", name, err)
			}
		}
	}
	// Every taskfleet service shares one image, built from the Dockerfile.
	var images []string
	for name := range cf.taskfleetServices() {
		s := cf.Services[name]
		if s.Build == nil {
			t.Errorf("service %s runs a taskfleet binary but has no build: section (compose would try to pull %s)", name, s.Image)
		}
		images = append(images, s.Image)
	}
	slices.Sort(images)
	if images = slices.Compact(images); len(images) != 1 {
		t.Errorf("taskfleet services use images %q; want one shared image", images)
	}
}

// TestComposeCommandsAndEnvironmentMatchBinaries checks every --flag in a
// service's command and every TASKFLEET_* variable in its environment
// against the --help of the binary the service runs, and checks that each
// value parses as the flag's type.
func TestComposeCommandsAndEnvironmentMatchBinaries(t *testing.T) {
	t.Parallel()
	cf := loadCompose(t, noEnv)
	cmds := dispatcherCommands(t)
	services := cf.taskfleetServices()
	if len(services) == 0 {
		t.Fatal("no service runs worker or dispatcher")
	}
	for name, argv := range services {
		t.Run(name, func(t *testing.T) {
			if argv[0] == "dispatcher" {
				if len(argv) < 2 {
					t.Fatalf("service %s: command %q names no dispatcher command", name, argv)
				}
				if !slices.Contains(cmds, argv[1]) {
					if argv[1] == "run" {
						t.Skipf("service %s runs `dispatcher run`, which this build does not have yet (commands: %s)", name, strings.Join(cmds, ", "))
					}
					t.Fatalf("service %s: dispatcher has no command %q (it has %s)", name, argv[1], strings.Join(cmds, ", "))
				}
			}
			h := commandHelp(t, argv)
			for _, fl := range flagArgs(argv) {
				if _, ok := h.flag(fl); !ok {
					t.Errorf("service %s: command %q: `%s --help` has no flag -%s", name, argv, h.Command, fl)
				}
			}
			for key, val := range cf.Services[name].Environment {
				if !strings.HasPrefix(key, "TASKFLEET_") {
					t.Errorf("service %s: environment %s: a taskfleet binary reads only TASKFLEET_* variables", name, key)
					continue
				}
				f, ok := h.env(key)
				if !ok {
					t.Errorf("service %s: environment %s: `%s --help` reads no such variable (it would be ignored)", name, key, h.Command)
					continue
				}
				if err := checkValue(f, val); err != nil {
					t.Errorf("service %s: environment %s=%q: %v", name, key, val, err)
				}
			}
			for _, fl := range flagArgs(argv) {
				f, ok := h.flag(fl)
				if !ok {
					continue
				}
				if v, ok := flagValue(argv, fl); ok && f.Type != "" {
					if err := checkValue(f, v); err != nil {
						t.Errorf("service %s: -%s %q: %v", name, fl, v, err)
					}
				}
			}
			// A path under /opt/taskfleet/examples must exist in the
			// repository's examples/, which the Dockerfile copies there.
			for _, a := range argv {
				if rel, ok := strings.CutPrefix(a, "/opt/taskfleet/examples/"); ok {
					if _, err := os.Stat(repoPath(t, "examples", filepath.FromSlash(rel))); err != nil {
						t.Errorf("service %s: %s is not in the image: %v", name, a, err)
					}
				}
			}
		})
	}
}

// checkValue parses v as the type of flag f.
func checkValue(f flagInfo, v string) error {
	if v == "" {
		return nil // empty means "not set" for the binaries
	}
	var err error
	switch f.Type {
	case "int":
		_, err = strconv.Atoi(v)
	case "duration":
		_, err = time.ParseDuration(v)
	case "":
		_, err = strconv.ParseBool(v)
	}
	if err != nil {
		return fmt.Errorf("not a valid %s for --%s: %v", cmp(f.Type, "bool"), f.Name, err)
	}
	return nil
}

func cmp(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

// TestComposeVariablesAreKnown checks the ${VARIABLES} compose.yaml
// interpolates: a TASKFLEET_* name must be one a binary reads (a typo would
// silently keep the default), and any other name must be documented in the
// README's compose section.
func TestComposeVariablesAreKnown(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	for _, f := range help(t, "worker").Flags {
		known[f.Env] = true
	}
	for _, c := range dispatcherCommands(t) {
		for _, f := range help(t, "dispatcher", c).Flags {
			known[f.Env] = true
		}
	}
	readme := string(readFile(t, repoPath(t, "README.md")))
	for _, v := range composeVariables(t) {
		if strings.HasPrefix(v, "TASKFLEET_") {
			if !known[v] {
				t.Errorf("compose.yaml uses ${%s}, which neither binary reads", v)
			}
			continue
		}
		if !strings.Contains(readme, "`"+v+"`") {
			t.Errorf("compose.yaml uses ${%s}; README.md does not document it", v)
		}
	}
}

// TestComposeWorker checks the worker service: scalable with --scale,
// configured through the variables the issue lists, JSON logs, a health
// check on /healthz, and a stop grace period longer than the drain timeout.
func TestComposeWorker(t *testing.T) {
	t.Parallel()
	cf := loadCompose(t, noEnv)
	w := cf.Services["worker"]
	if w == nil {
		t.Fatal("no worker service")
	}
	if len(w.Command) == 0 || w.Command[0] != "worker" {
		t.Fatalf("worker command = %q, want it to run worker", w.Command)
	}
	// `docker compose up --scale worker=N` needs replicas that differ:
	// no fixed container name, hostname or host port.
	if w.ContainerName != "" || w.Hostname != "" {
		t.Errorf("worker sets container_name/hostname; replicas would collide under --scale")
	}
	for _, p := range w.Ports {
		t.Errorf("worker publishes host port %q; replicas would collide under --scale (Prometheus reaches them on the compose network)", p)
	}
	for _, v := range []string{"TASKFLEET_STORE", "TASKFLEET_NATS", "TASKFLEET_POOL", "TASKFLEET_CONCURRENCY", "TASKFLEET_KINDS",
		"TASKFLEET_METRICS_ADDR", "TASKFLEET_LOG_FORMAT", "TASKFLEET_DRAIN_TIMEOUT"} {
		if _, ok := w.Environment[v]; !ok {
			t.Errorf("worker environment has no %s", v)
		}
	}
	if got := w.Environment["TASKFLEET_LOG_FORMAT"]; got != "json" {
		t.Errorf("worker TASKFLEET_LOG_FORMAT = %q, want json", got)
	}
	if u, err := url.Parse(w.Environment["TASKFLEET_STORE"]); err != nil || u.Scheme != "mongodb" || u.Host != "mongo:27017" || u.User.Username() == "" {
		t.Errorf("worker TASKFLEET_STORE (from %s) is not a URI of the compose mongo service with a user (%v)", w.FromFile["TASKFLEET_STORE"], err)
	}
	if w.FromFile["TASKFLEET_STORE"] != "TASKFLEET_STORE_FILE" {
		t.Errorf("worker reads its store URI from %q, want TASKFLEET_STORE_FILE (a secret)", w.FromFile["TASKFLEET_STORE"])
	}
	if got := w.Environment["TASKFLEET_NATS"]; got != "nats://nats:4222" {
		t.Errorf("worker TASKFLEET_NATS = %q, want nats://nats:4222", got)
	}

	drain, err := time.ParseDuration(w.Environment["TASKFLEET_DRAIN_TIMEOUT"])
	if err != nil {
		t.Fatalf("worker TASKFLEET_DRAIN_TIMEOUT: %v", err)
	}
	grace, err := time.ParseDuration(w.StopGracePeriod)
	if err != nil {
		t.Fatalf("worker stop_grace_period %q: %v", w.StopGracePeriod, err)
	}
	// After the drain the worker still cancels, returns and commits what
	// is left, and closes its connections: leave it time for that.
	if grace < drain+5*time.Second {
		t.Errorf("worker stop_grace_period %s must exceed TASKFLEET_DRAIN_TIMEOUT %s by at least 5s, or Docker kills it mid-drain", grace, drain)
	}
	if w.Healthcheck == nil || len(w.Healthcheck.Test) < 2 {
		t.Fatal("worker has no healthcheck")
	}
	hc := strings.Join(w.Healthcheck.Test, " ")
	_, port, _ := net.SplitHostPort(w.Environment["TASKFLEET_METRICS_ADDR"])
	if !strings.Contains(hc, ":"+port+"/healthz") {
		t.Errorf("worker healthcheck %q does not probe /healthz on the metrics port %s", hc, port)
	}
	for _, dep := range []string{"mongo", "nats"} {
		if !slices.Contains(w.dependsOn(), dep) {
			t.Errorf("worker does not depend on %s", dep)
		}
	}
	deps, _ := w.DependsOn.(map[string]any)
	for dep, v := range deps {
		m, _ := v.(map[string]any)
		if m["condition"] != "service_healthy" {
			t.Errorf("worker depends on %s with condition %v, want service_healthy", dep, m["condition"])
		}
		if cf.Services[dep] != nil && cf.Services[dep].Healthcheck == nil {
			t.Errorf("worker waits for %s to be healthy, but %s has no healthcheck", dep, dep)
		}
	}
}

// TestComposeDispatcherAndExporter checks the job and the exporter.
func TestComposeDispatcherAndExporter(t *testing.T) {
	t.Parallel()
	cf := loadCompose(t, noEnv)
	d := cf.Services["dispatcher"]
	if d == nil {
		t.Fatal("no dispatcher service")
	}
	want := []string{"dispatcher", "run", "-f", "/opt/taskfleet/examples/rolling/fleet.yaml"}
	if !slices.Equal(d.Command, want) {
		t.Errorf("dispatcher command = %q, want %q", d.Command, want)
	}
	if !slices.Contains(d.Profiles, "job") {
		t.Errorf("dispatcher profiles = %q, want it under the job profile (it must not start with `up`)", d.Profiles)
	}
	if d.Restart != "no" {
		t.Errorf("dispatcher restart = %q, want \"no\": a finished job must not start again", d.Restart)
	}
	e := cf.Services["exporter"]
	if e == nil {
		t.Fatal("no exporter service")
	}
	if len(e.Command) < 2 || e.Command[0] != "dispatcher" || e.Command[1] != "exporter" {
		t.Errorf("exporter command = %q, want dispatcher exporter", e.Command)
	}
	if len(e.Profiles) > 0 {
		t.Errorf("exporter is under profiles %q; Prometheus needs it running with the fleet", e.Profiles)
	}
}

// TestComposeMongoReplicaSet checks that the replica set the mongod
// command starts, the one the health check initiates and the one the
// workers' URI names agree, and that the member host is the service.
func TestComposeMongoReplicaSet(t *testing.T) {
	t.Parallel()
	cf := loadCompose(t, noEnv)
	m := cf.Services["mongo"]
	if m == nil {
		t.Fatal("no mongo service")
	}
	if !strings.HasPrefix(m.Image, "mongo:7") {
		t.Errorf("mongo image %q, want mongo:7", m.Image)
	}
	rs, ok := flagValue(m.Command, "replSet")
	if !ok {
		t.Fatalf("mongo command %q has no --replSet", m.Command)
	}
	if m.Healthcheck == nil {
		t.Fatal("mongo has no healthcheck (it initiates the replica set)")
	}
	hc := strings.Join(m.Healthcheck.Test, " ")
	port := "27017"
	if p, ok := flagValue(m.Command, "port"); ok {
		port = p
	}
	for _, want := range []string{"rs.initiate(", "_id: '" + rs + "'", "host: 'mongo:" + port + "'", "isWritablePrimary"} {
		if !strings.Contains(hc, want) {
			t.Errorf("mongo healthcheck %q does not contain %q", hc, want)
		}
	}
	if !slices.ContainsFunc(m.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/data/db") }) {
		t.Errorf("mongo volumes %q: /data/db is not on a volume", m.Volumes)
	}
	for name := range cf.taskfleetServices() {
		uri := cf.Services[name].Environment["TASKFLEET_STORE"]
		u, err := url.Parse(uri)
		if err != nil {
			t.Errorf("service %s: TASKFLEET_STORE %q: %v", name, uri, err)
			continue
		}
		if got := u.Query().Get("replicaSet"); got != rs {
			t.Errorf("service %s: TASKFLEET_STORE %q names replica set %q, mongod runs %q", name, uri, got, rs)
		}
	}
}

// natsMu serialises natsserver.ConfigureOptions, which sets a global.
var natsMu sync.Mutex

// natsOptions parses the nats service's command with nats-server's own
// flag parser, its configuration file and the auth.conf the nats_auth
// secret puts next to it (as deploy/secrets.sh generates it) read from a
// copy of the container's view.
func natsOptions(t testing.TB, cf *composeFile, s *service) *natsserver.Options {
	t.Helper()
	root := t.TempDir()
	secrets := generatedSecrets(t)
	// host returns the host file mounted at the container path p.
	host := func(p string) (string, bool) {
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && parts[1] == p && strings.HasPrefix(parts[0], ".") {
				return repoPath(t, "deploy", parts[0]), true
			}
		}
		for _, sec := range s.Secrets {
			if sec.target() == p {
				return cf.secretFile(t, s, p, secrets), true
			}
		}
		return "", false
	}
	mirror := func(p string) string {
		src, ok := host(p)
		if !ok {
			t.Fatalf("nats: %s is neither mounted nor a secret", p)
		}
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, readFile(t, src), 0o600); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	argv := slices.Clone(s.Command)
	for i, a := range argv {
		if (a == "-c" || a == "--config") && i+1 < len(argv) {
			argv[i+1] = mirror(argv[i+1])
			// Its includes: every file mounted beside it.
			dir := filepath.Dir(s.Command[i+1])
			for _, sec := range s.Secrets {
				if filepath.Dir(sec.target()) == dir {
					mirror(sec.target())
				}
			}
		}
	}
	natsMu.Lock()
	defer natsMu.Unlock()
	fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	noop := func() {}
	opts, err := natsserver.ConfigureOptions(fs, argv, noop, noop, noop)
	if err != nil {
		t.Fatalf("nats command %q: nats-server rejects it: %v", s.Command, err)
	}
	if opts == nil {
		t.Fatalf("nats command %q only prints help or the version", s.Command)
	}
	return opts
}

// TestComposeNATS checks the nats service with nats-server's own parser:
// JetStream on, its store on a volume, monitoring on, and authentication
// on, with the user and password every taskfleet service logs in with.
func TestComposeNATS(t *testing.T) {
	t.Parallel()
	cf := loadCompose(t, noEnv)
	n := cf.Services["nats"]
	if n == nil {
		t.Fatal("no nats service")
	}
	if !strings.HasPrefix(n.Image, "nats:2.10") {
		t.Errorf("nats image %q, want nats:2.10", n.Image)
	}
	opts := natsOptions(t, cf, n)
	if !opts.JetStream {
		t.Error("nats runs without JetStream")
	}
	if opts.HTTPPort == 0 {
		t.Error("nats runs without monitoring")
	}
	if !slices.ContainsFunc(n.Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+opts.StoreDir) }) {
		t.Errorf("nats JetStream store dir %q is not on a volume (%q)", opts.StoreDir, n.Volumes)
	}
	if opts.Username == "" || opts.Password == "" {
		t.Fatalf("nats requires no password (user %q)", opts.Username)
	}
	for name := range cf.taskfleetServices() {
		s := cf.Services[name]
		e := s.Environment
		if e["TASKFLEET_NATS_USER"] != opts.Username || e["TASKFLEET_NATS_PASSWORD"] != opts.Password {
			t.Errorf("service %s logs in to NATS as %q with another password than the server's user %q", name, e["TASKFLEET_NATS_USER"], opts.Username)
		}
		if s.FromFile["TASKFLEET_NATS_PASSWORD"] == "" {
			t.Errorf("service %s: the NATS password is not read from a secret", name)
		}
	}
}

// listenPorts returns the container ports service name listens on, derived
// from its configuration.
func listenPorts(t testing.TB, cf *composeFile, name string) []string {
	t.Helper()
	s := cf.Services[name]
	portOf := func(addr string) string {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("service %s: address %q: %v", name, addr, err)
		}
		return p
	}
	if argv, ok := cf.taskfleetServices()[name]; ok {
		if argv[0] == "dispatcher" && len(argv) > 1 && argv[1] != "exporter" {
			return nil // a job, or an admin command: no listener
		}
		addr, ok := flagValue(argv, "metrics-addr")
		if !ok {
			addr = s.Environment["TASKFLEET_METRICS_ADDR"]
		}
		if addr == "" && argv[0] == "dispatcher" {
			f, _ := help(t, "dispatcher", argv[1]).flag("metrics-addr")
			addr = strings.Trim(f.Default, `"`)
		}
		if addr == "" {
			return nil
		}
		return []string{portOf(addr)}
	}
	switch {
	case strings.HasPrefix(s.Image, "mongo:"):
		if p, ok := flagValue(s.Command, "port"); ok {
			return []string{p}
		}
		return []string{"27017"}
	case strings.HasPrefix(s.Image, "nats:"):
		opts := natsOptions(t, cf, s)
		port := opts.Port
		if port == 0 {
			port = natsserver.DEFAULT_PORT
		}
		out := []string{strconv.Itoa(port)}
		if opts.HTTPPort != 0 {
			out = append(out, strconv.Itoa(opts.HTTPPort))
		}
		return out
	case strings.HasPrefix(s.Image, "prom/prometheus:"):
		for _, a := range s.Command {
			if v, ok := strings.CutPrefix(a, "--web.listen-address="); ok {
				return []string{portOf(v)}
			}
		}
		return []string{"9090"}
	case strings.HasPrefix(s.Image, "grafana/grafana"):
		if p := s.Environment["GF_SERVER_HTTP_PORT"]; p != "" {
			return []string{p}
		}
		return []string{"3000"}
	}
	t.Fatalf("service %s (image %s): this test does not know which ports it listens on; teach listenPorts", name, s.Image)
	return nil
}

// declaredPorts returns the container ports service name declares in
// expose: and ports:.
func declaredPorts(s *service) []string {
	var out []string
	out = append(out, s.Expose...)
	for _, p := range s.Ports {
		parts := strings.Split(p, ":")
		c, _, _ := strings.Cut(parts[len(parts)-1], "/")
		out = append(out, c)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
