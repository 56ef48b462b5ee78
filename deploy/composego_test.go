package deploy

// deploy/compose.yaml as Compose v2 reads it: loaded with compose-go, the
// library `docker compose` is built on, then checked for what running it
// as written needs (limits, rotated logs, pinned images, secrets kept off
// command lines and out of the environment) and for what Debian's
// docker-compose 1.29 accepts.

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/goccy/go-yaml"

	"github.com/taskfleet/taskfleet/internal/cli"
)

// sentinel stands in for every secret-looking variable when the file is
// loaded: it must appear on no command line and in no environment.
const sentinel = "S3NTINEL-do-not-leak"

// loadProject loads compose.yaml with compose-go, every profile enabled,
// with env as the environment.
func loadProject(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	file := repoPath(t, "deploy", "compose.yaml")
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(file),
		ConfigFiles: []types.ConfigFile{{Filename: file}},
		Environment: env,
	}, func(o *loader.Options) {
		o.SetProjectName("taskfleet", true)
		o.Profiles = []string{"*"}
	})
	if err != nil {
		t.Fatalf("compose-go rejects %s: %v", file, err)
	}
	return p
}

// TestComposeGoLoads: compose-go loads the file with no variable set, and
// with every variable the file names set to a sentinel; every service the
// tests expect is there.
func TestComposeGoLoads(t *testing.T) {
	t.Parallel()
	p := loadProject(t, map[string]string{})
	for _, name := range wantServices {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("compose-go: no service %q", name)
		}
	}
	// The top level holds only what docker-compose 1.29 accepts: no name:.
	var top map[string]any
	if err := yaml.Unmarshal(readFile(t, repoPath(t, "deploy", "compose.yaml")), &top); err != nil {
		t.Fatal(err)
	}
	for k := range top {
		if !slices.Contains([]string{"services", "volumes", "secrets", "networks"}, k) && !strings.HasPrefix(k, "x-") {
			t.Errorf("compose.yaml: top-level %q (docker-compose 1.29 rejects name:, version: is obsolete)", k)
		}
	}
}

// TestComposeLimitsAndLogs: every service has a CPU and a memory limit in
// the keys both Compose v2 and docker-compose 1.29 apply (1.29 ignores
// deploy.resources without --compatibility), and rotated json-file logs.
func TestComposeLimitsAndLogs(t *testing.T) {
	t.Parallel()
	p := loadProject(t, map[string]string{})
	for name, s := range p.Services {
		if s.CPUS <= 0 {
			t.Errorf("service %s: no cpus limit", name)
		}
		if s.MemLimit <= 0 {
			t.Errorf("service %s: no mem_limit", name)
		}
		if s.Deploy != nil && s.Deploy.Resources.Limits != nil {
			t.Errorf("service %s: deploy.resources.limits is ignored by docker-compose 1.29; use cpus and mem_limit", name)
		}
		if s.Logging == nil || s.Logging.Driver != "json-file" || s.Logging.Options["max-size"] == "" || s.Logging.Options["max-file"] == "" {
			t.Errorf("service %s: logs not rotated (want the json-file driver with max-size and max-file), got %+v", name, s.Logging)
		}
	}
}

// pinned matches an image pinned to a patch version: NAME:1.2.3 or
// NAME:v1.2.3, with an optional variant suffix (-alpine).
var pinned = regexp.MustCompile(`^[a-z0-9./_-]+:v?\d+\.\d+\.\d+(-[a-z0-9.]+)?$`)

// TestComposeImagesPinned: every pulled image names a patch version; the
// taskfleet image is built here.
func TestComposeImagesPinned(t *testing.T) {
	t.Parallel()
	p := loadProject(t, map[string]string{})
	for name, s := range p.Services {
		if s.Build != nil {
			continue
		}
		if !pinned.MatchString(s.Image) {
			t.Errorf("service %s: image %q is not pinned to a patch version", name, s.Image)
		}
	}
}

// secretWords name a variable that holds a secret.
var secretWords = regexp.MustCompile(`(?i)pass|token|secret|key|creds`)

// credentialFlags are command-line options that carry a credential.
var credentialFlags = regexp.MustCompile(`^(--?(user|pass|password|auth|token|p|u)|--nats-(user|password|token))(=|$)`)

// uriUserinfo matches a URI with a password in it.
var uriUserinfo = regexp.MustCompile(`://[^/@\s]+:[^/@\s]+@`)

// TestComposeNoPlaintextSecrets loads the file with every variable it
// names (and every secret-looking one a user might set) set to a
// sentinel: no command line, entrypoint, health check or environment
// value holds it, no command line passes a credential option or a URI
// with a password, a secret-looking variable is only ever a *_FILE naming
// a mounted secret, and each secret is a file of deploy/secrets.
func TestComposeNoPlaintextSecrets(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	for _, v := range composeVariables(t) {
		if secretWords.MatchString(v) {
			env[v] = sentinel
		}
	}
	for _, v := range []string{"TASKFLEET_NATS_PASSWORD", "TASKFLEET_NATS_TOKEN", "GRAFANA_ADMIN_PASSWORD", "MONGO_PASSWORD"} {
		env[v] = sentinel
	}
	p := loadProject(t, env)
	for name, s := range p.Services {
		lines := map[string][]string{"command": s.Command, "entrypoint": s.Entrypoint}
		if s.HealthCheck != nil {
			lines["healthcheck"] = s.HealthCheck.Test
		}
		for what, argv := range lines {
			for _, a := range argv {
				if strings.Contains(a, sentinel) {
					t.Errorf("service %s: %s %q holds a variable's secret", name, what, argv)
				}
				if credentialFlags.MatchString(a) {
					t.Errorf("service %s: %s passes a credential on the command line: %q", name, what, a)
				}
				if uriUserinfo.MatchString(a) {
					t.Errorf("service %s: %s holds a URI with a password: %q", name, what, a)
				}
			}
		}
		mounted := map[string]bool{}
		for _, sec := range s.Secrets {
			target := sec.Target
			if !path.IsAbs(target) {
				target = "/run/secrets/" + target
			}
			mounted[target] = true
			if _, ok := p.Secrets[sec.Source]; !ok {
				t.Errorf("service %s: secret %q is not declared", name, sec.Source)
			}
		}
		for k, v := range s.Environment {
			if v == nil {
				continue
			}
			if strings.Contains(*v, sentinel) || uriUserinfo.MatchString(*v) {
				t.Errorf("service %s: environment %s holds a secret", name, k)
			}
			if !secretWords.MatchString(k) || k == "TASKFLEET_NATS_USER" {
				continue
			}
			if !strings.HasSuffix(k, "_FILE") {
				t.Errorf("service %s: environment %s: a secret goes in a file (%s_FILE naming a compose secret)", name, k, k)
				continue
			}
			if !mounted[*v] {
				t.Errorf("service %s: %s=%s is not a secret the service mounts", name, k, *v)
			}
		}
	}
	for name, sec := range p.Secrets {
		if sec.File == "" || filepath.Dir(sec.File) != repoPath(t, "deploy", "secrets") {
			t.Errorf("secret %s: file %q, want a file of deploy/secrets (written by deploy/secrets.sh)", name, sec.File)
		}
	}
}

// TestComposeAuthentication: MongoDB, NATS and Grafana run with
// authentication from secrets, and the taskfleet services read their store
// URI and NATS password from secrets.
func TestComposeAuthentication(t *testing.T) {
	t.Parallel()
	p := loadProject(t, map[string]string{})
	env := func(s types.ServiceConfig, k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	has := func(s types.ServiceConfig, secret string) bool {
		return slices.ContainsFunc(s.Secrets, func(c types.ServiceSecretConfig) bool { return c.Source == secret })
	}
	m := p.Services["mongo"]
	if env(m, "MONGO_INITDB_ROOT_USERNAME") == "" || env(m, "MONGO_INITDB_ROOT_PASSWORD_FILE") != "/run/secrets/mongo_root_password" || !has(m, "mongo_root_password") {
		t.Error("mongo: the root user is not created from the mongo_root_password secret")
	}
	if k, ok := flagValue(m.Command, "keyFile"); !ok || k == "" || !has(m, "mongo_keyfile") {
		t.Errorf("mongo: no --keyFile from the mongo_keyfile secret (command %q)", m.Command)
	}
	if hc := strings.Join(m.HealthCheck.Test, " "); !strings.Contains(hc, ".auth(") || !strings.Contains(hc, "/run/secrets/mongo_root_password") {
		t.Errorf("mongo: the health check does not log in with the root password's secret: %q", hc)
	}
	n := p.Services["nats"]
	if c, ok := flagValue(n.Command, "c"); !ok || c == "" || !slices.ContainsFunc(n.Secrets, func(s types.ServiceSecretConfig) bool {
		return s.Source == "nats_auth" && path.Dir(s.Target) == path.Dir(c)
	}) {
		t.Errorf("nats: no configuration file with the nats_auth secret beside it (command %q)", n.Command)
	}
	g := p.Services["grafana"]
	if env(g, "GF_SECURITY_ADMIN_PASSWORD__FILE") != "/run/secrets/grafana_admin_password" || !has(g, "grafana_admin_password") {
		t.Error("grafana: the admin password does not come from the grafana_admin_password secret")
	}
	if env(g, "GF_SECURITY_ADMIN_PASSWORD") != "" {
		t.Error("grafana: GF_SECURITY_ADMIN_PASSWORD is set in the environment")
	}
	if a := env(g, "GF_AUTH_ANONYMOUS_ENABLED"); a != "false" {
		t.Errorf("grafana: GF_AUTH_ANONYMOUS_ENABLED = %q by default, want false", a)
	}
	for _, name := range []string{"worker", "exporter", "dispatcher"} {
		s := p.Services[name]
		if env(s, "TASKFLEET_STORE") != "" || env(s, "TASKFLEET_STORE_FILE") != "/run/secrets/store_uri" || !has(s, "store_uri") {
			t.Errorf("%s: the store URI is not read from the store_uri secret (TASKFLEET_STORE_FILE)", name)
		}
		if env(s, "TASKFLEET_NATS_PASSWORD_FILE") != "/run/secrets/nats_password" || !has(s, "nats_password") {
			t.Errorf("%s: the NATS password is not read from the nats_password secret", name)
		}
	}
}

// TestSecretsScript: deploy/secrets.sh writes every secret compose.yaml
// declares, in a directory only its owner reads, with a store URI whose
// password is the taskfleet user's, and keeps them when run again.
func TestSecretsScript(t *testing.T) {
	t.Parallel()
	dir := generatedSecrets(t)
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("%s: mode %v, want 0700", dir, st.Mode().Perm())
	}
	p := loadProject(t, map[string]string{})
	before := map[string]string{}
	for name, sec := range p.Secrets {
		b, err := os.ReadFile(filepath.Join(dir, filepath.Base(sec.File)))
		if err != nil || len(strings.TrimSpace(string(b))) == 0 {
			t.Errorf("secret %s: deploy/secrets.sh wrote no %s (%v)", name, filepath.Base(sec.File), err)
		}
		before[name] = string(b)
	}
	uri := strings.TrimSpace(before["store_uri"])
	pw := strings.TrimSpace(before["mongo_taskfleet_password"])
	if !strings.Contains(uri, "://taskfleet:"+pw+"@mongo:27017/") || !strings.Contains(uri, "authSource=admin") {
		t.Errorf("store_uri does not log in as taskfleet with mongo_taskfleet_password")
	}
	if !strings.Contains(before["nats_auth"], `"`+strings.TrimSpace(before["nats_password"])+`"`) {
		t.Error("nats_auth.conf does not hold nats_password")
	}
	if kf := strings.Join(strings.Fields(before["mongo_keyfile"]), ""); len(kf) < 6 || len(kf) > 1024 {
		t.Errorf("mongo_keyfile: %d characters, mongod wants 6 to 1024", len(kf))
	}
	generatedAgain := generatedSecrets(t) // the same directory: run the script on it again
	out, err := runScript(t, generatedAgain)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	for name, sec := range p.Secrets {
		b, _ := os.ReadFile(filepath.Join(dir, filepath.Base(sec.File)))
		if string(b) != before[name] {
			t.Errorf("secret %s changed on a second run", name)
		}
	}
}

// TestImageDefaultStoreWritable: the runtime stage creates the directory
// of the default store (cli.DefaultStore, relative to WORKDIR) and gives
// it to the runtime user.
func TestImageDefaultStoreWritable(t *testing.T) {
	t.Parallel()
	_, stages := parseDockerfile(string(readFile(t, repoPath(t, "Dockerfile"))))
	runtime := stages[len(stages)-1]
	var workdir, runs string
	for _, in := range runtime.Insns {
		switch in.Cmd {
		case "WORKDIR":
			workdir = in.Args
		case "RUN":
			runs += in.Args + "\n"
		}
	}
	rel := path.Dir(strings.TrimPrefix(cli.DefaultStore, "sqlite://"))
	dir := path.Join(workdir, rel)
	if !regexp.MustCompile(`mkdir -p [^&]*` + regexp.QuoteMeta(dir) + `\b`).MatchString(runs) {
		t.Errorf("Dockerfile: the runtime does not create %s, the default store's directory", dir)
	}
	if !regexp.MustCompile(`chown [^&]*taskfleet:taskfleet [^&]*` + regexp.QuoteMeta(dir) + `\b`).MatchString(runs) {
		t.Errorf("Dockerfile: %s is not owned by the runtime user", dir)
	}
}
