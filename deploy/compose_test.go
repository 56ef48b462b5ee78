package deploy

// deploy/compose.yaml: its schema, strictly decoded, and compose's
// variable interpolation.

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/goccy/go-yaml"
)

// composeFile is the part of the compose specification deploy/compose.yaml
// uses. It is decoded strictly, so a misspelt key fails the test with its
// line and column, as `docker compose config` would. A new, valid key needs
// a field here.
type composeFile struct {
	XTaskfleet any                   `yaml:"x-taskfleet"`
	XEnv       any                   `yaml:"x-taskfleet-env"`
	XLogging   any                   `yaml:"x-logging"`
	Secrets    map[string]*secretDef `yaml:"secrets"`
	Services   map[string]*service   `yaml:"services"`
	Volumes    map[string]*volumeDef `yaml:"volumes"`
}

type secretDef struct {
	File string `yaml:"file"`
}

type volumeDef struct {
	Name     string `yaml:"name"`
	External bool   `yaml:"external"`
}

type service struct {
	Image           string            `yaml:"image"`
	Build           *buildDef         `yaml:"build"`
	Command         []string          `yaml:"command"`
	Entrypoint      []string          `yaml:"entrypoint"`
	Environment     map[string]string `yaml:"environment"`
	DependsOn       any               `yaml:"depends_on"`
	Healthcheck     *healthcheck      `yaml:"healthcheck"`
	Expose          []string          `yaml:"expose"`
	Ports           []string          `yaml:"ports"`
	Volumes         []string          `yaml:"volumes"`
	Profiles        []string          `yaml:"profiles"`
	Restart         string            `yaml:"restart"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	ContainerName   string            `yaml:"container_name"`
	Hostname        string            `yaml:"hostname"`
	Init            bool              `yaml:"init"`
	User            string            `yaml:"user"`
	Secrets         []serviceSecret   `yaml:"secrets"`
	Logging         any               `yaml:"logging"`
	CPUs            string            `yaml:"cpus"`
	MemLimit        string            `yaml:"mem_limit"`

	// FromFile maps a variable whose value loadCompose read from a
	// secret (X, set by X_FILE=/run/secrets/NAME) to that X_FILE.
	FromFile map[string]string `yaml:"-"`
}

// serviceSecret is a service's secret: a name, or {source, target}.
type serviceSecret struct {
	Source string
	Target string
}

// UnmarshalYAML accepts both forms.
func (s *serviceSecret) UnmarshalYAML(b []byte) error {
	var name string
	if err := yaml.Unmarshal(b, &name); err == nil {
		s.Source = name
		return nil
	}
	var long struct {
		Source string `yaml:"source"`
		Target string `yaml:"target"`
	}
	if err := yaml.UnmarshalWithOptions(b, &long, yaml.Strict()); err != nil {
		return err
	}
	s.Source, s.Target = long.Source, long.Target
	return nil
}

// target is where the secret is mounted in the container.
func (s serviceSecret) target() string {
	switch {
	case s.Target == "":
		return "/run/secrets/" + s.Source
	case strings.HasPrefix(s.Target, "/"):
		return s.Target
	}
	return "/run/secrets/" + s.Target
}

type buildDef struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

type healthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

// loadCompose parses deploy/compose.yaml and interpolates ${VAR...} in every
// value with env (compose's rules; an unset variable takes its default).
// A variable X_FILE naming a mounted secret becomes X with the value
// deploy/secrets.sh generated for it (see generatedSecrets), so tests see
// what the binaries read.
func loadCompose(t testing.TB, env map[string]string) *composeFile {
	t.Helper()
	path := repoPath(t, "deploy", "compose.yaml")
	secrets := generatedSecrets(t)
	var cf composeFile
	if err := yaml.UnmarshalWithOptions(readFile(t, path), &cf, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for name, s := range cf.Services {
		if s == nil {
			t.Fatalf("%s: service %s is empty", path, name)
		}
		in := func(v string) string {
			out, err := interpolate(v, env)
			if err != nil {
				t.Fatalf("%s: service %s: %v", path, name, err)
			}
			return out
		}
		all := func(vs []string) {
			for i := range vs {
				vs[i] = in(vs[i])
			}
		}
		s.Image = in(s.Image)
		all(s.Command)
		all(s.Entrypoint)
		all(s.Expose)
		all(s.Ports)
		all(s.Volumes)
		s.StopGracePeriod = in(s.StopGracePeriod)
		for k, v := range s.Environment {
			s.Environment[k] = in(v)
		}
		s.FromFile = map[string]string{}
		for k, v := range s.Environment {
			x, ok := strings.CutSuffix(k, "_FILE")
			if !ok || !strings.HasPrefix(x, "TASKFLEET_") {
				continue
			}
			file := cf.secretFile(t, s, v, secrets)
			delete(s.Environment, k)
			s.Environment[x] = strings.TrimRight(string(readFile(t, file)), "\n")
			s.FromFile[x] = k
		}
		if s.Healthcheck != nil {
			all(s.Healthcheck.Test)
		}
	}
	return &cf
}

// composeVariables returns the names of the variables compose.yaml
// interpolates.
func composeVariables(t testing.TB) []string {
	t.Helper()
	re := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(readFile(t, repoPath(t, "deploy", "compose.yaml"))), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range re.FindAllStringSubmatch(line, -1) {
			seen[m[1]] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// interpolate applies compose's variable syntax: $$, $VAR, ${VAR},
// ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, ${VAR:+alt},
// ${VAR+alt}.
func interpolate(s string, env map[string]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", s)
			}
			body := s[i+2 : i+end]
			i += end
			v, err := expand(body, env)
			if err != nil {
				return "", fmt.Errorf("%q: %v", s, err)
			}
			b.WriteString(v)
			continue
		}
		j := i + 1
		for j < len(s) && isVarChar(s[j]) {
			j++
		}
		if j == i+1 {
			return "", fmt.Errorf("lone $ in %q (write $$ for a literal $)", s)
		}
		b.WriteString(env[s[i+1:j]])
		i = j - 1
	}
	return b.String(), nil
}

func expand(body string, env map[string]string) (string, error) {
	j := 0
	for j < len(body) && isVarChar(body[j]) {
		j++
	}
	name, op := body[:j], body[j:]
	if name == "" {
		return "", fmt.Errorf("bad variable ${%s}", body)
	}
	v, set := env[name]
	switch {
	case op == "":
		return v, nil
	case strings.HasPrefix(op, ":-"):
		if v == "" {
			return op[2:], nil
		}
		return v, nil
	case strings.HasPrefix(op, "-"):
		if !set {
			return op[1:], nil
		}
		return v, nil
	case strings.HasPrefix(op, ":?"), strings.HasPrefix(op, "?"):
		if v == "" && (op[0] == ':' || !set) {
			return "", fmt.Errorf("required variable %s is not set: %s", name, strings.TrimLeft(op, ":?"))
		}
		return v, nil
	case strings.HasPrefix(op, ":+"):
		if v != "" {
			return op[2:], nil
		}
		return "", nil
	case strings.HasPrefix(op, "+"):
		if set {
			return op[1:], nil
		}
		return "", nil
	}
	return "", fmt.Errorf("unsupported variable syntax ${%s}", body)
}

// taskfleetServices returns the services that run a taskfleet binary, with
// their command line.
func (cf *composeFile) taskfleetServices() map[string][]string {
	out := map[string][]string{}
	for name, s := range cf.Services {
		if len(s.Command) > 0 && (s.Command[0] == "worker" || s.Command[0] == "dispatcher") {
			out[name] = s.Command
		}
	}
	return out
}

// dependsOn returns the services s depends on.
func (s *service) dependsOn() []string {
	var out []string
	switch d := s.DependsOn.(type) {
	case []any:
		for _, x := range d {
			out = append(out, fmt.Sprint(x))
		}
	case map[string]any:
		for k := range d {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// isVarChar reports whether c may be part of a variable name.
func isVarChar(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// secretDirs holds each test's generated secrets: one set per test, so
// every file a test reads agrees (the NATS password and auth.conf).
var secretDirs sync.Map // testing.TB -> string

// generatedSecrets runs deploy/secrets.sh into a temporary directory, once
// per test, and returns it.
func generatedSecrets(t testing.TB) string {
	t.Helper()
	if dir, ok := secretDirs.Load(t); ok {
		return dir.(string)
	}
	dir := filepath.Join(t.TempDir(), "secrets")
	secretDirs.Store(t, dir)
	t.Cleanup(func() { secretDirs.Delete(t) })
	if out, err := runScript(t, dir); err != nil {
		t.Fatalf("deploy/secrets.sh: %v\n%s", err, out)
	}
	return dir
}

// runScript runs deploy/secrets.sh on dir.
func runScript(t testing.TB, dir string) ([]byte, error) {
	t.Helper()
	return exec.Command("bash", repoPath(t, "deploy", "secrets.sh"), dir).CombinedOutput()
}

// secretFile returns the generated file behind the container path p, a
// secret that service s mounts.
func (cf *composeFile) secretFile(t testing.TB, s *service, p, generated string) string {
	t.Helper()
	for _, sec := range s.Secrets {
		if sec.target() != p {
			continue
		}
		def := cf.Secrets[sec.Source]
		if def == nil || def.File == "" {
			t.Fatalf("compose.yaml: secret %q is not declared with a file", sec.Source)
		}
		return filepath.Join(generated, filepath.Base(def.File))
	}
	t.Fatalf("compose.yaml: %s is not a secret the service mounts", p)
	return ""
}
