package deploy

// deploy/compose.yaml: its schema, strictly decoded, and compose's
// variable interpolation.

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// composeFile is the part of the compose specification deploy/compose.yaml
// uses. It is decoded strictly, so a misspelt key fails the test with its
// line and column, as `docker compose config` would. A new, valid key needs
// a field here.
type composeFile struct {
	Name       string                `yaml:"name"`
	XTaskfleet any                   `yaml:"x-taskfleet"`
	XEnv       any                   `yaml:"x-taskfleet-env"`
	Services   map[string]*service   `yaml:"services"`
	Volumes    map[string]*volumeDef `yaml:"volumes"`
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
func loadCompose(t testing.TB, env map[string]string) *composeFile {
	t.Helper()
	path := repoPath(t, "deploy", "compose.yaml")
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
