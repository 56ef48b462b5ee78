package deploy

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/taskfleet/taskfleet/internal/metrics"
	"github.com/taskfleet/taskfleet/pkg/events"
)

var update = flag.Bool("update", false, "rewrite the generated configuration reference in README.md from the binaries' --help")

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "taskfleet-deploy-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

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
		if s.Healthcheck != nil && len(s.Healthcheck.Test) > 0 && s.Healthcheck.Test[0] != "CMD" && s.Healthcheck.Test[0] != "CMD-SHELL" {
			t.Errorf("service %s: healthcheck test must start with CMD or CMD-SHELL, got %q", name, s.Healthcheck.Test[0])
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
			if v == "TASKFLEET_IMAGE_TAG" {
				if !strings.Contains(readme, "`"+v+"`") {
					t.Errorf("compose.yaml uses ${%s}; README.md does not document it", v)
				}
				continue
			}
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
	if !strings.HasPrefix(w.Environment["TASKFLEET_STORE"], "mongodb://mongo:27017/") {
		t.Errorf("worker TASKFLEET_STORE = %q, want the compose mongo service", w.Environment["TASKFLEET_STORE"])
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
// flag parser.
func natsOptions(t testing.TB, s *service) *natsserver.Options {
	t.Helper()
	natsMu.Lock()
	defer natsMu.Unlock()
	fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	noop := func() {}
	opts, err := natsserver.ConfigureOptions(fs, s.Command, noop, noop, noop)
	if err != nil {
		t.Fatalf("nats command %q: nats-server rejects it: %v", s.Command, err)
	}
	if opts == nil {
		t.Fatalf("nats command %q only prints help or the version", s.Command)
	}
	return opts
}

// TestComposeNATS checks the nats service's command with nats-server's own
// flag parser: JetStream on, its store on a volume, monitoring on, and
// authentication exactly when the TASKFLEET_NATS_* variables the clients
// read are set, with the same credentials on both sides.
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
	opts := natsOptions(t, n)
	if !opts.JetStream {
		t.Error("nats runs without -js")
	}
	if opts.HTTPPort == 0 {
		t.Error("nats runs without monitoring (-m)")
	}
	if !slices.ContainsFunc(n.Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+opts.StoreDir) }) {
		t.Errorf("nats JetStream store dir %q is not on a volume (%q)", opts.StoreDir, n.Volumes)
	}
	if opts.Username != "" || opts.Password != "" || opts.Authorization != "" {
		t.Errorf("with no TASKFLEET_NATS_* variables set, nats requires credentials (user %q)", opts.Username)
	}

	cases := []map[string]string{
		{"TASKFLEET_NATS_USER": "fleet", "TASKFLEET_NATS_PASSWORD": "p4ss-word"},
		{"TASKFLEET_NATS_TOKEN": "t0ken-value"},
	}
	for _, env := range cases {
		cf := loadCompose(t, env)
		opts := natsOptions(t, cf.Services["nats"])
		server := [3]string{opts.Username, opts.Password, opts.Authorization}
		want := [3]string{env["TASKFLEET_NATS_USER"], env["TASKFLEET_NATS_PASSWORD"], env["TASKFLEET_NATS_TOKEN"]}
		if server != want {
			t.Errorf("with %v, nats-server gets user/password/token %q, want %q", env, server, want)
		}
		for name := range cf.taskfleetServices() {
			e := cf.Services[name].Environment
			client := [3]string{e["TASKFLEET_NATS_USER"], e["TASKFLEET_NATS_PASSWORD"], e["TASKFLEET_NATS_TOKEN"]}
			if client != want {
				t.Errorf("with %v, service %s gets user/password/token %q, want %q", env, name, client, want)
			}
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
		opts := natsOptions(t, s)
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
	return out
}

// prometheusConfig is the part of Prometheus's configuration used here,
// decoded strictly.
type prometheusConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		ScrapeTimeout      string `yaml:"scrape_timeout"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
		DNSSDConfigs []struct {
			Names           []string `yaml:"names"`
			Type            string   `yaml:"type"`
			Port            int      `yaml:"port"`
			RefreshInterval string   `yaml:"refresh_interval"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

func loadPrometheus(t testing.TB) prometheusConfig {
	t.Helper()
	path := repoPath(t, "deploy", "prometheus", "prometheus.yml")
	var pc prometheusConfig
	if err := yaml.UnmarshalWithOptions(readFile(t, path), &pc, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pc
}

// prometheusJobs returns the job names of prometheus.yml.
func prometheusJobs(t testing.TB) []string {
	var jobs []string
	for _, sc := range loadPrometheus(t).ScrapeConfigs {
		jobs = append(jobs, sc.JobName)
	}
	return jobs
}

// TestPrometheusConfig checks prometheus.yml: it parses, its durations are
// valid, the workers are found through DNS service discovery on the worker
// service, the exporter is scraped, and every target is a compose service.
func TestPrometheusConfig(t *testing.T) {
	t.Parallel()
	cf := loadCompose(t, noEnv)
	pc := loadPrometheus(t)
	for _, d := range []string{pc.Global.ScrapeInterval, pc.Global.ScrapeTimeout, pc.Global.EvaluationInterval} {
		if _, err := time.ParseDuration(d); err != nil {
			t.Errorf("prometheus.yml: global duration %q: %v", d, err)
		}
	}
	si, _ := time.ParseDuration(pc.Global.ScrapeInterval)
	st, _ := time.ParseDuration(pc.Global.ScrapeTimeout)
	if st > si {
		t.Errorf("prometheus.yml: scrape_timeout %s exceeds scrape_interval %s (Prometheus refuses to start)", st, si)
	}
	jobs := map[string]bool{}
	var workerSD, exporter bool
	for _, sc := range pc.ScrapeConfigs {
		if jobs[sc.JobName] {
			t.Errorf("prometheus.yml: job %q twice", sc.JobName)
		}
		jobs[sc.JobName] = true
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, _, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("prometheus.yml job %s: target %q: %v", sc.JobName, target, err)
					continue
				}
				if cf.Services[host] == nil {
					t.Errorf("prometheus.yml job %s: target %q is not a compose service", sc.JobName, target)
				}
				if host == "exporter" {
					exporter = true
				}
			}
		}
		for _, sd := range sc.DNSSDConfigs {
			if sd.Type != "A" {
				t.Errorf("prometheus.yml job %s: dns_sd type %q, want A (compose DNS answers A records)", sc.JobName, sd.Type)
			}
			if sd.Port == 0 {
				t.Errorf("prometheus.yml job %s: dns_sd_configs need a port for A records", sc.JobName)
			}
			if _, err := time.ParseDuration(sd.RefreshInterval); sd.RefreshInterval != "" && err != nil {
				t.Errorf("prometheus.yml job %s: refresh_interval: %v", sc.JobName, err)
			}
			for _, n := range sd.Names {
				if cf.Services[n] == nil {
					t.Errorf("prometheus.yml job %s: dns_sd name %q is not a compose service", sc.JobName, n)
				}
				if n == "worker" {
					workerSD = true
				}
			}
		}
	}
	if !workerSD {
		t.Error("prometheus.yml does not discover the worker replicas with dns_sd_configs names: [worker]")
	}
	if !exporter {
		t.Error("prometheus.yml does not scrape the exporter")
	}
}

// grafanaDatasources is the provisioning file of the datasource.
type grafanaDatasources struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name      string         `yaml:"name"`
		UID       string         `yaml:"uid"`
		Type      string         `yaml:"type"`
		Access    string         `yaml:"access"`
		URL       string         `yaml:"url"`
		IsDefault bool           `yaml:"isDefault"`
		Editable  bool           `yaml:"editable"`
		JSONData  map[string]any `yaml:"jsonData"`
	} `yaml:"datasources"`
}

type grafanaProviders struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name                  string `yaml:"name"`
		Folder                string `yaml:"folder"`
		Type                  string `yaml:"type"`
		DisableDeletion       bool   `yaml:"disableDeletion"`
		AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
		UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
		Options               struct {
			Path                      string `yaml:"path"`
			FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

func loadDatasources(t testing.TB) grafanaDatasources {
	t.Helper()
	var ds grafanaDatasources
	path := repoPath(t, "deploy", "grafana", "provisioning", "datasources", "prometheus.yaml")
	if err := yaml.UnmarshalWithOptions(readFile(t, path), &ds, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].UID == "" {
		t.Fatalf("%s: want one prometheus datasource with a uid", path)
	}
	return ds
}

// containerPath maps a path inside service s's container to the repository
// file it is bind-mounted from, or "" if no bind mount covers it.
func containerPath(t testing.TB, s *service, p string) string {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[0], ".") {
			continue
		}
		if rel, ok := strings.CutPrefix(p, parts[1]); ok && (rel == "" || strings.HasPrefix(rel, "/")) {
			return filepath.Join(repoPath(t, "deploy", parts[0]), filepath.FromSlash(rel))
		}
	}
	return ""
}

// TestGrafanaProvisioning checks that Grafana mounts its provisioning,
// that the datasource points at the compose Prometheus, and that the
// dashboard provider reads the directory the dashboard is mounted in.
func TestGrafanaProvisioning(t *testing.T) {
	t.Parallel()
	cf := loadCompose(t, noEnv)
	g := cf.Services["grafana"]
	if g == nil {
		t.Fatal("no grafana service")
	}
	ds := loadDatasources(t).Datasources[0]
	u, err := url.Parse(ds.URL)
	if err != nil || u.Hostname() == "" {
		t.Fatalf("datasource url %q: %v", ds.URL, err)
	}
	if cf.Services[u.Hostname()] == nil || !strings.HasPrefix(cf.Services[u.Hostname()].Image, "prom/prometheus") {
		t.Errorf("datasource url %q does not name the compose prometheus service", ds.URL)
	}
	if ti, ok := ds.JSONData["timeInterval"].(string); ok {
		pc := loadPrometheus(t)
		if ti != pc.Global.ScrapeInterval {
			t.Errorf("datasource timeInterval %q differs from the scrape interval %q ($__rate_interval would be wrong)", ti, pc.Global.ScrapeInterval)
		}
	}
	if containerPath(t, g, "/etc/grafana/provisioning/datasources") == "" || containerPath(t, g, "/etc/grafana/provisioning/dashboards") == "" {
		t.Errorf("grafana does not mount ./grafana/provisioning at /etc/grafana/provisioning: %q", g.Volumes)
	}

	var pv grafanaProviders
	path := repoPath(t, "deploy", "grafana", "provisioning", "dashboards", "taskfleet.yaml")
	if err := yaml.UnmarshalWithOptions(readFile(t, path), &pv, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(pv.Providers) == 0 {
		t.Fatalf("%s: no providers", path)
	}
	for _, p := range pv.Providers {
		if p.Type != "file" {
			t.Errorf("dashboard provider %s: type %q, want file", p.Name, p.Type)
		}
		dir := containerPath(t, g, p.Options.Path)
		if dir == "" {
			t.Errorf("dashboard provider %s reads %s, which grafana does not mount", p.Name, p.Options.Path)
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "taskfleet.json")); err != nil {
			t.Errorf("dashboard provider %s: %v", p.Name, err)
		}
	}
	if home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		if f := containerPath(t, g, home); f == "" {
			t.Errorf("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH %s is not mounted", home)
		} else if _, err := os.Stat(f); err != nil {
			t.Errorf("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: %v", err)
		}
	}
}

// TestPorts checks that every port something refers to is one the target
// service listens on and declares: Prometheus targets, the Grafana
// datasource, the store and NATS URLs of the taskfleet services, health
// check probes and published ports.
func TestPorts(t *testing.T) {
	t.Parallel()
	cf := loadCompose(t, noEnv)
	listens := map[string][]string{}
	for name := range cf.Services {
		listens[name] = listenPorts(t, cf, name)
	}
	// Every listener is declared with expose: (or ports:), and nothing else is.
	for name, s := range cf.Services {
		decl := declaredPorts(s)
		for _, p := range listens[name] {
			if !slices.Contains(decl, p) {
				t.Errorf("service %s listens on %s but does not expose it", name, p)
			}
		}
		for _, p := range decl {
			if !slices.Contains(listens[name], p) {
				t.Errorf("service %s exposes or publishes %s, where nothing listens", name, p)
			}
		}
	}
	ref := func(from, host, port string) {
		t.Helper()
		if cf.Services[host] == nil {
			t.Errorf("%s refers to %s:%s, but %s is not a compose service", from, host, port, host)
			return
		}
		if !slices.Contains(listens[host], port) {
			t.Errorf("%s refers to %s:%s, but %s listens on %q", from, host, port, host, listens[host])
		}
		if !slices.Contains(declaredPorts(cf.Services[host]), port) {
			t.Errorf("%s refers to %s:%s, which %s does not expose", from, host, port, host)
		}
	}
	for _, sc := range loadPrometheus(t).ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				h, p, _ := net.SplitHostPort(target)
				ref("prometheus.yml job "+sc.JobName, h, p)
			}
		}
		for _, sd := range sc.DNSSDConfigs {
			for _, n := range sd.Names {
				ref("prometheus.yml job "+sc.JobName, n, strconv.Itoa(sd.Port))
			}
		}
	}
	ds := loadDatasources(t).Datasources[0]
	if u, err := url.Parse(ds.URL); err == nil {
		ref("the Grafana datasource", u.Hostname(), u.Port())
	}
	for name := range cf.taskfleetServices() {
		env := cf.Services[name].Environment
		store := env["TASKFLEET_STORE"]
		if rest, ok := strings.CutPrefix(store, "mongodb://"); ok {
			if i := strings.LastIndex(rest, "@"); i >= 0 {
				rest = rest[i+1:]
			}
			hosts, _, _ := strings.Cut(rest, "/")
			hosts, _, _ = strings.Cut(hosts, "?")
			for _, hp := range strings.Split(hosts, ",") {
				h, p, err := net.SplitHostPort(hp)
				if err != nil {
					h, p = hp, "27017"
				}
				ref("service "+name+" TASKFLEET_STORE", h, p)
			}
		}
		for _, n := range strings.Split(env["TASKFLEET_NATS"], ",") {
			if n == "" {
				continue
			}
			u, err := url.Parse(n)
			if err != nil {
				t.Errorf("service %s: TASKFLEET_NATS %q: %v", name, n, err)
				continue
			}
			ref("service "+name+" TASKFLEET_NATS", u.Hostname(), cmp(u.Port(), "4222"))
		}
	}
	probe := regexp.MustCompile(`https?://(?:127\.0\.0\.1|localhost):(\d+)`)
	for name, s := range cf.Services {
		if s.Healthcheck == nil {
			continue
		}
		hc := strings.Join(s.Healthcheck.Test, " ")
		ports := []string{}
		for _, m := range probe.FindAllStringSubmatch(hc, -1) {
			ports = append(ports, m[1])
		}
		if p, ok := flagValue(s.Healthcheck.Test, "port"); ok {
			ports = append(ports, p)
		}
		for _, p := range ports {
			if !slices.Contains(listens[name], p) {
				t.Errorf("service %s: healthcheck probes port %s, but the service listens on %q", name, p, listens[name])
			}
		}
	}
}

// dashboard is the part of the Grafana dashboard model the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string     `json:"name"`
			Type       string     `json:"type"`
			Datasource datasource `json:"datasource"`
			Definition string     `json:"definition"`
			Query      any        `json:"query"`
			IncludeAll bool       `json:"includeAll"`
			Multi      bool       `json:"multi"`
			AllValue   string     `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    *struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		Expr         string      `json:"expr"`
		RefID        string      `json:"refId"`
		LegendFormat string      `json:"legendFormat"`
		Datasource   *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t testing.TB) dashboard {
	t.Helper()
	path := repoPath(t, "deploy", "grafana", "dashboards", "taskfleet.json")
	var d dashboard
	if err := json.Unmarshal(readFile(t, path), &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d
}

// allPanels flattens rows.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// dashQuery is one PromQL query of the dashboard with where it is.
type dashQuery struct {
	Where, Expr, Legend string
	Q                   promQuery
}

func dashboardQueries(t testing.TB, d dashboard) []dashQuery {
	t.Helper()
	var out []dashQuery
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			where := fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)
			q, err := parsePromQL(tg.Expr)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			out = append(out, dashQuery{Where: where, Expr: tg.Expr, Legend: tg.LegendFormat, Q: q})
		}
	}
	return out
}

var labelValuesRE = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// TestDashboardStructure checks the dashboard JSON: it parses, panels have
// unique ids and a grid position, every query has the provisioned
// datasource and parses, the pool variable lists pools from
// taskfleet_tasks, and the panels the issue asks for are there.
func TestDashboardStructure(t *testing.T) {
	t.Parallel()
	d := loadDashboard(t)
	uid := loadDatasources(t).Datasources[0].UID
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard has no uid or title")
	}
	ids := map[int]bool{}
	var titles []string
	for _, p := range d.allPanels() {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q has no grid position", p.Title)
		}
		titles = append(titles, p.Title)
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != uid {
			t.Errorf("panel %q: datasource %+v, want uid %q (deploy/grafana/provisioning/datasources)", p.Title, p.Datasource, uid)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.UID != uid {
				t.Errorf("panel %q target %s: datasource uid %q, want %q", p.Title, tg.RefID, tg.Datasource.UID, uid)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s: empty query", p.Title, tg.RefID)
			}
		}
	}
	dashboardQueries(t, d)

	var pool bool
	for _, v := range d.Templating.List {
		if v.Name != "pool" {
			continue
		}
		pool = true
		if v.Datasource.UID != uid {
			t.Errorf("variable pool: datasource uid %q, want %q", v.Datasource.UID, uid)
		}
		m := labelValuesRE.FindStringSubmatch(v.Definition)
		if m == nil || m[1] != "taskfleet_tasks" || m[2] != "pool" {
			t.Errorf("variable pool: definition %q, want label_values(taskfleet_tasks, pool)", v.Definition)
		}
		if !v.IncludeAll || !v.Multi || v.AllValue != ".*" {
			t.Errorf("variable pool: want multi-value with All = .* (includeAll %v, multi %v, allValue %q)", v.IncludeAll, v.Multi, v.AllValue)
		}
	}
	if !pool {
		t.Error("dashboard has no pool template variable")
	}

	// The views the fleet's operators need, by the metric they read.
	exprs := ""
	for _, q := range dashboardQueries(t, d) {
		exprs += q.Expr + "\n"
	}
	for _, want := range []string{
		"taskfleet_tasks{", "taskfleet_tasks_claimed_total", "taskfleet_tasks_committed_total", "taskfleet_tasks_failed_total",
		"histogram_quantile(0.5, sum by (le, kind) (rate(taskfleet_task_run_duration_seconds_bucket",
		"histogram_quantile(0.95, sum by (le, kind) (rate(taskfleet_task_run_duration_seconds_bucket",
		"histogram_quantile(0.5, sum by (le, pool) (rate(taskfleet_task_pickup_latency_seconds_bucket",
		"histogram_quantile(0.99, sum by (le, pool) (rate(taskfleet_task_pickup_latency_seconds_bucket",
		"taskfleet_lease_lost_total", "taskfleet_tasks_reaped_total",
		"sum by (instance) (taskfleet_tasks_in_flight",
		"taskfleet_events_publish_failed_total",
		"taskfleet_store_operation_duration_seconds_bucket",
	} {
		if !strings.Contains(exprs, want) {
			t.Errorf("no dashboard query contains %q", want)
		}
	}
}

// TestFreshWorkerServesEveryDashboardMetric starts a real worker (SQLite
// store, embedded NATS) and has it run one noop task, starts the
// exporter, scrapes both, and checks every query of the dashboard against
// the scrape: every metric exists, every label it filters, groups or
// labels the legend by exists, every equality matcher matches a series,
// and every metric with a pool label is filtered by $pool.
func TestFreshWorkerServesEveryDashboardMetric(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	nats, err := events.StartEmbedded(events.EmbeddedConfig{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	store := "sqlite://" + filepath.Join(dir, "tasks.db")
	common := []string{"--store", store, "--nats", nats.ClientURL(), "--log-format", "json"}

	worker := startProc(t, dir, nil, binary(t, "worker"), append(slices.Clone(common),
		"--metrics-addr", "127.0.0.1:0", "--concurrency", "2")...)
	rec := worker.waitLog(t, 20*time.Second, "serving metrics", logMsg("serving metrics"))
	workerURL, _ := rec["addr"].(string)
	worker.waitLog(t, 20*time.Second, "worker started with events", func(r map[string]any) bool {
		return r["msg"] == "worker started" && r["events"] == true
	})

	tasks := filepath.Join(dir, "tasks.yaml")
	if err := os.WriteFile(tasks, []byte("- kind: noop\n  def: {name: deploy-test}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dispatcher := binary(t, "dispatcher")
	if out, code := runQuick(t, nil, dispatcher, append([]string{"create", "-f", tasks}, common...)...); code != 0 {
		t.Fatalf("dispatcher create: exit %d\n%s", code, out)
	}
	if out, code := runQuick(t, nil, dispatcher, append([]string{"wait", "--timeout", "20s", "--quiet"}, common...)...); code != 0 {
		t.Fatalf("dispatcher wait: exit %d\n%s\nworker:\n%s", code, out, worker.output())
	}
	var workerSeries []series
	eventually(t, 10*time.Second, "the worker's metrics show the committed task", func() error {
		ss, err := scrape(workerURL)
		if err != nil {
			return err
		}
		if v, _ := value(ss, "taskfleet_tasks_committed_total", map[string]string{"pool": "default"}); v != "1" {
			return fmt.Errorf("taskfleet_tasks_committed_total{pool=\"default\"} = %q", v)
		}
		if v, _ := value(ss, "taskfleet_task_run_duration_seconds_count", map[string]string{"kind": "noop", "outcome": "ok"}); v != "1" {
			return fmt.Errorf("taskfleet_task_run_duration_seconds_count{kind=\"noop\",outcome=\"ok\"} = %q", v)
		}
		if v, _ := value(ss, "taskfleet_tasks", map[string]string{"pool": "default", "status": "done"}); v != "1" {
			return fmt.Errorf("taskfleet_tasks{pool=\"default\",status=\"done\"} = %q", v)
		}
		workerSeries = ss
		return nil
	})

	exporter := startProc(t, dir, nil, dispatcher, "exporter", "--store", store, "--log-format", "json", "--metrics-addr", "127.0.0.1:0")
	rec = exporter.waitLog(t, 20*time.Second, "serving pool metrics", logMsg("serving pool metrics"))
	exporterURL, _ := rec["addr"].(string)
	exporterSeries, err := scrape(exporterURL)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := value(exporterSeries, "taskfleet_tasks", map[string]string{"pool": "default", "status": "done"}); v != "1" {
		t.Errorf("exporter: taskfleet_tasks{pool=\"default\",status=\"done\"} = %q, want 1", v)
	}

	idx := indexSeries(workerSeries, exporterSeries)
	// Every family the code declares is served by a fresh fleet.
	for _, name := range metrics.Names() {
		found := false
		for _, suffix := range []string{"", "_bucket", "_count"} {
			if idx[name+suffix] != nil {
				found = true
			}
		}
		if !found {
			t.Errorf("metric %s (metrics.Names) is served by neither the worker nor the exporter", name)
		}
	}
	checkDashboardAgainst(t, loadDashboard(t), idx, prometheusJobs(t))

	if code := exporter.stop(t); code != 0 {
		t.Errorf("exporter exit code %d after SIGTERM, want 0\n%s", code, exporter.output())
	}
	if code := worker.stop(t); code != 0 {
		t.Errorf("worker exit code %d after SIGTERM, want 0\n%s", code, worker.output())
	}
}

// promLabels are the labels Prometheus adds to every scraped series.
var promLabels = []string{"job", "instance"}

func checkDashboardAgainst(t *testing.T, d dashboard, idx metricIndex, jobs []string) {
	t.Helper()
	// `up` is made by Prometheus itself for every target.
	idx["up"] = map[string]map[string]bool{}
	queries := dashboardQueries(t, d)
	for _, v := range d.Templating.List {
		if m := labelValuesRE.FindStringSubmatch(v.Definition); m != nil {
			queries = append(queries, dashQuery{Where: "variable " + v.Name, Expr: v.Definition,
				Q: promQuery{Selectors: []selector{{Metric: m[1]}}, Grouping: []string{m[2]}}})
		}
	}
	for _, q := range queries {
		if len(q.Q.Selectors) == 0 {
			t.Errorf("%s: %q selects no metric", q.Where, q.Expr)
		}
		known := slices.Clone(promLabels)
		for _, sel := range q.Q.Selectors {
			labels, ok := idx[sel.Metric]
			if !ok {
				t.Errorf("%s: metric %q is served by neither the worker nor the exporter (query %q)", q.Where, sel.Metric, q.Expr)
				continue
			}
			for l := range labels {
				known = append(known, l)
			}
			hasPool := false
			for _, m := range sel.Matchers {
				if slices.Contains(promLabels, m.Label) {
					if m.Label == "job" && m.Op == "=" && !slices.Contains(jobs, m.Value) {
						t.Errorf("%s: job=%q is not a prometheus.yml job (%q)", q.Where, m.Value, jobs)
					}
					continue
				}
				vals, ok := labels[m.Label]
				if !ok {
					t.Errorf("%s: %s has no label %q (query %q)", q.Where, sel.Metric, m.Label, q.Expr)
					continue
				}
				if m.Op == "=" && !vals[m.Value] {
					t.Errorf("%s: no series %s{%s=%q} (values: %v)", q.Where, sel.Metric, m.Label, m.Value, keys(vals))
				}
				if m.Label == "pool" && m.Value == "$pool" && m.Op == "=~" {
					hasPool = true
				}
			}
			if _, ok := labels["pool"]; ok && !hasPool && !strings.HasPrefix(q.Where, "variable") {
				t.Errorf("%s: %s has a pool label but the query does not filter pool=~\"$pool\"", q.Where, sel.Metric)
			}
		}
		for _, g := range q.Q.Grouping {
			if g != "le" && !slices.Contains(known, g) {
				t.Errorf("%s: grouping label %q is on none of the query's metrics (query %q)", q.Where, g, q.Expr)
			}
		}
		for _, m := range regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`).FindAllStringSubmatch(q.Legend, -1) {
			if !slices.Contains(known, m[1]) {
				t.Errorf("%s: legend %q uses label %q, which the query's metrics do not have", q.Where, q.Legend, m[1])
			}
		}
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

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
		w := startProc(t, dir, env, worker, "--store", store, "--nats", natsURL, "--log-format", "json", "--log-level", "debug")
		w.waitLog(t, 20*time.Second, "worker started with events", func(r map[string]any) bool {
			return r["msg"] == "worker started" && r["events"] == true
		})
		tasks := filepath.Join(dir, "tasks.yaml")
		if err := os.WriteFile(tasks, []byte("- kind: noop\n  def: {name: auth}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// The dispatcher gets the same credentials by flag.
		out, code := runQuick(t, nil, dispatcher, "create", "-f", tasks, "--store", store, "--nats", natsURL,
			"--nats-user", user, "--nats-password", password)
		if code != 0 {
			t.Fatalf("dispatcher create: exit %d\n%s", code, out)
		}
		noSecret(t, "dispatcher create", out, password)
		out, code = runQuick(t, nil, dispatcher, "wait", "--timeout", "20s", "--quiet", "--store", store, "--nats", natsURL,
			"--nats-user", user, "--nats-password", password)
		if code != 0 {
			t.Fatalf("dispatcher wait: exit %d\n%s\nworker:\n%s", code, out, w.output())
		}
		noSecret(t, "dispatcher wait", out, password)
		if code := w.stop(t); code != 0 {
			t.Errorf("worker exit code %d after SIGTERM, want 0", code)
		}
		noSecret(t, "worker", w.output(), password)
	})

	t.Run("credentials in the URL", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		u, _ := url.Parse(natsURL)
		u.User = url.UserPassword(user, password)
		w := startProc(t, dir, []string{"TASKFLEET_NATS=" + u.String()}, worker,
			"--store", "sqlite://"+filepath.Join(dir, "tasks.db"), "--log-format", "json", "--log-level", "debug")
		w.waitLog(t, 20*time.Second, "worker started with events", func(r map[string]any) bool {
			return r["msg"] == "worker started" && r["events"] == true
		})
		if code := w.stop(t); code != 0 {
			t.Errorf("worker exit code %d after SIGTERM, want 0", code)
		}
		noSecret(t, "worker", w.output(), password)
	})

	refused := func(t *testing.T, env []string, secrets ...string) {
		t.Helper()
		dir := t.TempDir()
		w := startProc(t, dir, env, worker, "--store", "sqlite://"+filepath.Join(dir, "tasks.db"), "--nats", natsURL)
		code := w.waitExit(t, 20*time.Second)
		out := w.output()
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

// TestDockerfile checks the image recipe against the repository and the
// compose file: the Go version, a static build of both binaries, a
// non-root runtime with the tools the compose health checks run, the
// examples where the job expects them, and binaries on PATH.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	args, stages := parseDockerfile(string(readFile(t, repoPath(t, "Dockerfile"))))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stages, want a build stage and a runtime stage", len(stages))
	}
	build, runtime := stages[0], stages[len(stages)-1]

	// The builder's Go must satisfy go.mod's go directive.
	gomod := string(readFile(t, repoPath(t, "go.mod")))
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)$`).FindStringSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	from := build.From
	for k, v := range args {
		from = strings.ReplaceAll(from, "${"+k+"}", v)
	}
	img, tag, _ := strings.Cut(from, ":")
	if img != "golang" {
		t.Errorf("build stage FROM %s, want golang", build.From)
	}
	if version := strings.SplitN(tag, "-", 2)[0]; compareVersions(version, m[1]) < 0 {
		t.Errorf("build stage Go %s is older than go.mod's go %s (the build would fail with GOTOOLCHAIN=local)", version, m[1])
	}
	var goBuild string
	for _, in := range build.Insns {
		if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
			goBuild = in.Args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/dispatcher", "./cmd/worker", "--mount=type=cache,target=/go/pkg/mod"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("Dockerfile: the go build step %q lacks %q", goBuild, want)
		}
	}

	var user, entry string
	var copies, runs []string
	for _, in := range runtime.Insns {
		switch in.Cmd {
		case "USER":
			user = in.Args
		case "ENTRYPOINT":
			entry = in.Args
		case "COPY":
			copies = append(copies, in.Args)
		case "RUN":
			runs = append(runs, in.Args)
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("runtime stage runs as %q, want a non-root user", user)
	}
	if !slices.Contains(copies, "examples/ /opt/taskfleet/examples/") {
		t.Errorf("runtime stage does not copy examples/ to /opt/taskfleet/examples/ (COPY lines: %q)", copies)
	}
	if !slices.ContainsFunc(copies, func(c string) bool {
		return strings.HasPrefix(c, "--from=") && strings.Contains(c, "dispatcher") && strings.Contains(c, "worker") && strings.HasSuffix(c, " /usr/local/bin/")
	}) {
		t.Errorf("runtime stage does not copy dispatcher and worker to /usr/local/bin/ (compose runs them by name)")
	}
	if strings.Contains(entry, "tini") && !slices.ContainsFunc(runs, func(r string) bool { return strings.Contains(r, "tini") }) {
		t.Errorf("ENTRYPOINT %s, but no RUN installs tini", entry)
	}
	// The compose health checks of the taskfleet services run wget inside
	// this image: distroless has none, Alpine's busybox has it.
	cf := loadCompose(t, noEnv)
	for name := range cf.taskfleetServices() {
		if hc := cf.Services[name].Healthcheck; hc != nil && slices.Contains(hc.Test, "wget") {
			rt := runtime.From
			for k, v := range args {
				rt = strings.ReplaceAll(rt, "${"+k+"}", v)
			}
			if !strings.HasPrefix(rt, "alpine") && !strings.HasPrefix(rt, "busybox") {
				t.Errorf("service %s's healthcheck runs wget, which the runtime image %s does not have", name, rt)
			}
		}
	}
}

// compareVersions compares dotted version numbers.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// TestDockerignoreKeepsWhatTheBuildNeeds checks that .dockerignore leaves
// in the build context every file `go build ./cmd/dispatcher ./cmd/worker`
// reads (as `go list -deps` reports them), go.mod and go.sum, and all of
// examples/.
func TestDockerignoreKeepsWhatTheBuildNeeds(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	di, err := parseDockerignore(string(readFile(t, filepath.Join(root, ".dockerignore"))))
	if err != nil {
		t.Fatal(err)
	}
	out, code := runQuickIn(t, root, "go", "list", "-deps", "-json=Dir,GoFiles,CgoFiles,SFiles,EmbedFiles,Module", "./cmd/dispatcher", "./cmd/worker")
	if code != 0 {
		t.Fatalf("go list: exit %d\n%s", code, out)
	}
	need := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var p struct {
			Dir                                   string
			GoFiles, CgoFiles, SFiles, EmbedFiles []string
			Module                                *struct{ Main bool }
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		for _, f := range slices.Concat(p.GoFiles, p.CgoFiles, p.SFiles, p.EmbedFiles) {
			rel, err := filepath.Rel(root, filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			need = append(need, rel)
		}
	}
	if len(need) < 10 {
		t.Fatalf("go list found only %d files; the check is not working", len(need))
	}
	_ = filepath.WalkDir(filepath.Join(root, "examples"), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(root, p)
			need = append(need, rel)
		}
		return nil
	})
	for _, f := range need {
		if ex, by := di.excluded(filepath.ToSlash(f)); ex {
			t.Errorf(".dockerignore line %q leaves %s out of the build context; the image needs it", by, f)
		}
	}
	// And the heavy or secret things stay out.
	for _, f := range []string{".git/config", "bin/worker", ".taskfleet/tasks.db", "deploy/compose.yaml"} {
		if ex, _ := di.excluded(f); !ex {
			t.Errorf(".dockerignore does not exclude %s", f)
		}
	}
}

// runQuickIn runs a command in dir and returns its output and exit code.
func runQuickIn(t testing.TB, dir, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(interface{ ExitCode() int }); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("%s %q: %v", name, args, err)
	}
	return string(out), 0
}

// ---------------------------------------------------------------------------
// README.

const (
	configBegin = "<!-- BEGIN configuration reference: generated by `go test ./deploy -run TestREADMEConfigurationReference -update` from the binaries' --help; do not edit by hand -->"
	configEnd   = "<!-- END configuration reference -->"
)

// configSections returns the flags of each section of the configuration
// reference: the common flags every command takes, then the worker's own,
// then each dispatcher command's own.
func configSections(t testing.TB) (titles []string, summaries []string, flags [][]flagInfo) {
	t.Helper()
	helps := []helpInfo{help(t, "worker")}
	for _, c := range dispatcherCommands(t) {
		helps = append(helps, help(t, "dispatcher", c))
	}
	isCommon := func(f flagInfo) bool {
		for _, h := range helps {
			g, ok := h.flag(f.Name)
			if !ok || g.Env != f.Env || g.Usage != f.Usage {
				return false
			}
		}
		return true
	}
	var common []flagInfo
	for _, f := range helps[0].Flags {
		if isCommon(f) {
			common = append(common, f)
		}
	}
	titles = append(titles, "Common flags")
	summaries = append(summaries, "Every command of both binaries takes these.")
	flags = append(flags, common)
	for _, h := range helps {
		var own []flagInfo
		for _, f := range h.Flags {
			if !isCommon(f) {
				own = append(own, f)
			}
		}
		titles = append(titles, "`"+h.Command+"`")
		summaries = append(summaries, h.Summary)
		flags = append(flags, own)
	}
	return titles, summaries, flags
}

func renderConfigReference(t testing.TB) string {
	titles, summaries, flags := configSections(t)
	esc := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace
	var b strings.Builder
	b.WriteString(configBegin + "\n")
	for i, title := range titles {
		fmt.Fprintf(&b, "\n#### %s\n\n", title)
		if summaries[i] != "" {
			b.WriteString(esc(summaries[i]) + "\n\n")
		}
		if len(flags[i]) == 0 {
			b.WriteString("Only the common flags.\n")
			continue
		}
		b.WriteString("| Flag | Environment variable | Default | Description |\n|---|---|---|---|\n")
		for _, f := range flags[i] {
			env, def := "", ""
			if f.Env != "" {
				env = "`" + f.Env + "`"
			}
			if d := strings.Trim(f.Default, `"`); d != "" {
				def = "`" + esc(d) + "`"
			}
			typ := f.Type
			if typ == "" {
				typ = "bool"
			}
			fmt.Fprintf(&b, "| `%s` %s | %s | %s | %s |\n", f.Dash(), typ, env, def, esc(f.Usage))
		}
	}
	b.WriteString("\n" + configEnd)
	return b.String()
}

// TestREADMEConfigurationReference checks that the configuration reference
// in README.md lists every flag and environment variable of the worker,
// the common flags, and every dispatcher command, each in its section.
// With -update it rewrites the reference from the binaries' --help.
func TestREADMEConfigurationReference(t *testing.T) {
	path := repoPath(t, "README.md")
	readme := string(readFile(t, path))
	begin, end := strings.Index(readme, configBegin), strings.Index(readme, configEnd)
	if begin < 0 || end < begin {
		t.Fatalf("README.md has no generated configuration reference between\n%s\nand\n%s", configBegin, configEnd)
	}
	if *update {
		fresh := readme[:begin] + renderConfigReference(t) + readme[end+len(configEnd):]
		if fresh != readme {
			if err := os.WriteFile(path, []byte(fresh), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Log("README.md: configuration reference regenerated")
		}
		readme = fresh
		end = strings.Index(readme, configEnd)
	}
	ref := readme[begin:end]
	titles, _, flags := configSections(t)
	var missing []string
	for i, title := range titles {
		head := "\n#### " + title + "\n"
		at := strings.Index(ref, head)
		if at < 0 {
			missing = append(missing, "section "+title)
			continue
		}
		sec := ref[at+len(head):]
		if next := strings.Index(sec, "\n#### "); next >= 0 {
			sec = sec[:next]
		}
		for _, f := range flags[i] {
			row := ""
			for _, line := range strings.Split(sec, "\n") {
				if strings.HasPrefix(line, "| `"+f.Dash()+"` ") {
					row = line
				}
			}
			switch {
			case row == "":
				missing = append(missing, title+" "+f.Dash())
			case f.Env != "" && !strings.Contains(row, "`"+f.Env+"`"):
				missing = append(missing, title+" "+f.Dash()+" ("+f.Env+")")
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("README.md configuration reference is missing:\n  %s\nRegenerate it with: go test ./deploy -run TestREADMEConfigurationReference -update",
			strings.Join(missing, "\n  "))
	}
}

// TestREADMEMetricsReference checks that the README's metrics table lists
// every metric family the code registers.
func TestREADMEMetricsReference(t *testing.T) {
	t.Parallel()
	readme := string(readFile(t, repoPath(t, "README.md")))
	at := strings.Index(readme, "\n## Metrics reference")
	if at < 0 {
		t.Fatal("README.md has no \"## Metrics reference\" section")
	}
	sec := readme[at+1:]
	if next := strings.Index(sec, "\n## "); next >= 0 {
		sec = sec[:next]
	}
	for _, name := range metrics.Names() {
		if !strings.Contains(sec, "| `"+name+"` |") {
			t.Errorf("README.md metrics reference has no row for %s", name)
		}
	}
}

// TestMakefileComposeTargets checks the compose targets of the Makefile.
func TestMakefileComposeTargets(t *testing.T) {
	t.Parallel()
	mk := string(readFile(t, repoPath(t, "Makefile")))
	if !strings.Contains(mk, "deploy/compose.yaml") {
		t.Error("Makefile does not use deploy/compose.yaml")
	}
	for _, target := range []string{"up", "down", "logs", "scale"} {
		re := regexp.MustCompile(`(?m)^` + target + `:.*## \S`)
		if !re.MatchString(mk) {
			t.Errorf("Makefile has no %q target with a ## help comment", target)
		}
	}
	if !regexp.MustCompile(`(?m)^\t.*--scale worker=\$\(N\)`).MatchString(mk) {
		t.Error("Makefile: no recipe scales the workers with --scale worker=$(N)")
	}
}
