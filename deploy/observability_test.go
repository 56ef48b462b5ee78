package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/taskfleet/taskfleet/internal/fleettest"
	"github.com/taskfleet/taskfleet/internal/metrics"
	"github.com/taskfleet/taskfleet/pkg/events"
)

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
	for _, p := range d.allPanels() {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q has no grid position", p.Title)
		}
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
		if len(m) != 3 || m[1] != "taskfleet_tasks" || m[2] != "pool" {
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
	// A latency quantile of a kind (pool, op) that never ran is 0/0: NaN
	// series drawn as gaps and listed in the legend. Each quantile keeps
	// only the series whose count moved.
	for _, q := range dashboardQueries(t, d) {
		if strings.HasPrefix(q.Expr, "histogram_quantile(") && !regexp.MustCompile(`\) and on \(\w+\) \(sum by \(\w+\) \(rate\(\w+_count`).MatchString(q.Expr) {
			t.Errorf("quantile query without a guard against series that never ran (NaN): %s", q.Expr)
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

	worker := fleettest.Start(t, fleettest.Cmd{Path: binary(t, "worker"), Dir: dir,
		Args: append(slices.Clone(common), "--metrics-addr", "127.0.0.1:0", "--concurrency", "2")})
	rec := worker.WaitLog(t, fleettest.StartTimeout, "serving metrics", fleettest.LogMsg("serving metrics"))
	workerURL, _ := rec["addr"].(string)
	worker.WaitLog(t, fleettest.StartTimeout, "worker started with events", func(r map[string]any) bool {
		return r["msg"] == "worker started" && r["events"] == true
	})

	tasks := filepath.Join(dir, "tasks.yaml")
	if err := os.WriteFile(tasks, []byte("- kind: noop\n  def: {name: deploy-test}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dispatcher := binary(t, "dispatcher")
	if r := run(t, dispatcher, append([]string{"create", "-f", tasks}, common...)...); r.Code != 0 {
		t.Fatalf("dispatcher create failed\n%s", r)
	}
	if r := run(t, dispatcher, append([]string{"wait", "--timeout", "20s", "--quiet"}, common...)...); r.Code != 0 {
		t.Fatalf("dispatcher wait failed\n%s\nworker:\n%s", r, worker.Dump())
	}
	var workerMetrics fleettest.Metrics
	fleettest.Eventually(t, 10*time.Second, func() error {
		m := fleettest.Scrape(t, workerURL)
		for _, want := range [][]string{
			{"taskfleet_tasks_committed_total", "pool", "default"},
			{"taskfleet_task_run_duration_seconds_count", "kind", "noop", "outcome", "ok"},
			{"taskfleet_tasks", "pool", "default", "status", "done"},
		} {
			if v, _ := m.Sum(want[0], want[1:]...); v != 1 {
				return fmt.Errorf("the worker's metrics do not show the committed task: %s%q = %v, want 1", want[0], want[1:], v)
			}
		}
		workerMetrics = m
		return nil
	})

	exporter := fleettest.Start(t, fleettest.Cmd{Path: dispatcher, Dir: dir,
		Args: []string{"exporter", "--store", store, "--nats", nats.ClientURL(), "--log-format", "json", "--metrics-addr", "127.0.0.1:0"}})
	rec = exporter.WaitLog(t, fleettest.StartTimeout, "serving pool metrics", fleettest.LogMsg("serving pool metrics"))
	exporterURL, _ := rec["addr"].(string)
	exporterMetrics := fleettest.Scrape(t, exporterURL)
	if v, _ := exporterMetrics.Sum("taskfleet_tasks", "pool", "default", "status", "done"); v != 1 {
		t.Errorf("exporter: taskfleet_tasks{pool=\"default\",status=\"done\"} = %v, want 1", v)
	}
	if v, ok := exporterMetrics.Sum("taskfleet_events_connected"); !ok || v != 1 {
		t.Errorf("exporter with --nats: taskfleet_events_connected = %v (present %v), want 1", v, ok)
	}

	idx := indexSamples(workerMetrics.Samples(), exporterMetrics.Samples())
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

	if code := exporter.Stop(t); code != 0 {
		t.Errorf("exporter exit code %d after SIGTERM, want 0\n%s", code, exporter.Dump())
	}
	if code := worker.Stop(t); code != 0 {
		t.Errorf("worker exit code %d after SIGTERM, want 0\n%s", code, worker.Dump())
	}
}

// metricIndex maps a series name to the label names and values it was
// seen with.
type metricIndex map[string]map[string]map[string]bool

// indexSamples indexes the samples of scrapes.
func indexSamples(scrapes ...[]fleettest.Sample) metricIndex {
	idx := metricIndex{}
	for _, ss := range scrapes {
		for _, x := range ss {
			labels := idx[x.Name]
			if labels == nil {
				labels = map[string]map[string]bool{}
				idx[x.Name] = labels
			}
			for k, v := range x.Labels {
				if labels[k] == nil {
					labels[k] = map[string]bool{}
				}
				labels[k][v] = true
			}
		}
	}
	return idx
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
	used := map[string]bool{}
	defer func() {
		t.Logf("checked %d dashboard queries over %d metrics against the scrape: %s", len(queries), len(used), strings.Join(keys(used), ", "))
	}()
	for _, q := range queries {
		for _, sel := range q.Q.Selectors {
			used[sel.Metric] = true
		}
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
