package program

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/taskfleet/taskfleet/internal/yamlpos"
)

// ErrBadSpec means a program's configuration is invalid. Every error of
// ParseFlag, ParseEnvList, LoadFile, Spec.Validate and ValidateAll wraps it;
// the message names the flag, the variable or the file and line, and the key.
// A command line reports it as a usage error (exit 2).
var ErrBadSpec = errors.New("bad program")

// EnvVar is the environment variable holding programs in the ParseFlag
// syntax, separated by ';'.
const EnvVar = "TASKFLEET_PROGRAMS"

// Spec is a program registered on a worker: a task kind whose argv, working
// directory, timeout and environment come from the worker's configuration,
// never from the task. The task's def is data handed to the program.
type Spec struct {
	// Name is the kind the program serves: tasks with kind Name run it.
	// Required: a lower-case letter, then lower-case letters, digits, '_',
	// '.' or '-' (at most 64 characters); it must not be a built-in kind.
	Name string
	// Command is the argv, run directly (no shell). Required and non-empty.
	// argv[0] is looked up in PATH when it has no slash; a relative path is
	// relative to Dir.
	Command []string
	// Dir is the working directory. Default: the worker's.
	Dir string
	// Timeout bounds one attempt: SIGTERM to the process group, then
	// SIGKILL after the grace. 0 (default): no timeout.
	Timeout time.Duration
	// Env holds variables set for the program, over the ones it inherits.
	// Names must not start with TASKFLEET_ (the task context is set by the
	// worker). Default: none.
	Env map[string]string
	// PassEnv names variables copied from the worker's environment when
	// set there (OMP_NUM_THREADS, CUDA_VISIBLE_DEVICES), besides the few
	// always passed (see the package doc). No TASKFLEET_* name. Default: none.
	PassEnv []string
}

var (
	nameRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

const reservedPrefix = "TASKFLEET_"

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadSpec}, args...)...)
}

// Validate checks s on its own. reserved lists the kinds built into the
// worker (noop, sleep, linear), which no program may take. Errors wrap
// ErrBadSpec and name the program and the field.
func (s Spec) Validate(reserved []string) error {
	if err := s.check(reserved); err != nil {
		return badf("program %q: %v", s.Name, err)
	}
	return nil
}

// check returns the first problem with s, naming the field, not the program.
func (s Spec) check(reserved []string) error {
	if err := checkName(s.Name, reserved); err != nil {
		return err
	}
	if err := checkCommand(s.Command); err != nil {
		return err
	}
	if s.Timeout < 0 {
		return fmt.Errorf("timeout: %s: want a duration ≥ 0 (0: none)", s.Timeout)
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := checkEnvName(k); err != nil {
			return fmt.Errorf("env: %w", err)
		}
	}
	for _, k := range s.PassEnv {
		if err := checkEnvName(k); err != nil {
			return fmt.Errorf("pass_env: %w", err)
		}
	}
	return nil
}

func checkName(name string, reserved []string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name %q: want a lower-case letter, then lower-case letters, digits, '_', '.' or '-' (at most 64)", name)
	}
	if slices.Contains(reserved, name) {
		return fmt.Errorf("name %q: clashes with the built-in kind %q (built-ins: %s)", name, name, strings.Join(reserved, ", "))
	}
	return nil
}

func checkCommand(argv []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return errors.New(`command: empty argv: want a program and its arguments, such as "python3 train.py"`)
	}
	return nil
}

func checkEnvName(k string) error {
	if !envRE.MatchString(k) {
		return fmt.Errorf("%q: not a variable name", k)
	}
	if strings.HasPrefix(strings.ToUpper(k), reservedPrefix) {
		return fmt.Errorf("%q: TASKFLEET_* variables are the worker's (settings and the task context), never a program's", k)
	}
	return nil
}

// ValidateAll checks every spec and that no two share a name.
func ValidateAll(specs []Spec, reserved []string) error {
	seen := map[string]bool{}
	for _, s := range specs {
		if err := s.Validate(reserved); err != nil {
			return err
		}
		if seen[s.Name] {
			return badf("program %q: registered twice", s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

// ParseFlag parses the value of `worker --program NAME=COMMAND`: COMMAND is
// split into argv like a shell would (see SplitCommand), without a shell.
// The spec has no dir, timeout or env (use a --programs file for those). The
// name is checked for syntax only: call ValidateAll with the built-in kinds
// once every source is read.
func ParseFlag(value string) (Spec, error) {
	s, err := parseAssignment(value)
	if err != nil {
		return Spec{}, badf("--program %q: %v", value, err)
	}
	return s, nil
}

// ParseEnvList parses TASKFLEET_PROGRAMS: NAME=COMMAND entries in the
// ParseFlag syntax separated by ';' (empty entries are skipped; a ';' inside
// quotes does not separate).
func ParseEnvList(value string) ([]Spec, error) {
	var specs []Spec
	for i, entry := range splitEntries(value) {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		s, err := parseAssignment(entry)
		if err != nil {
			return nil, badf("%s: entry %d %q: %v", EnvVar, i+1, strings.TrimSpace(entry), err)
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// splitEntries splits at the ';' that are outside quotes and not escaped.
func splitEntries(s string) []string {
	var out []string
	start, quote, escaped := 0, byte(0), false
	for i := range len(s) {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && quote != '\'':
			escaped = true
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == ';':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func parseAssignment(value string) (Spec, error) {
	name, command, ok := strings.Cut(strings.TrimSpace(value), "=")
	if !ok {
		return Spec{}, errors.New("want NAME=COMMAND, such as train='python3 train.py'")
	}
	name = strings.TrimSpace(name)
	if err := checkName(name, nil); err != nil {
		return Spec{}, err
	}
	argv, err := SplitCommand(command)
	if err != nil {
		return Spec{}, fmt.Errorf("command: %v", err)
	}
	if err := checkCommand(argv); err != nil {
		return Spec{}, err
	}
	return Spec{Name: name, Command: argv}, nil
}

// LoadFile reads a programs file (`worker --programs FILE`), a YAML map:
//
//	train:
//	  command: [python3, examples/program/train.py]   # or "python3 examples/program/train.py"
//	  dir: /srv/models        # optional, default the worker's
//	  timeout: 2h             # optional Go duration, default none
//	  env: {OMP_NUM_THREADS: "4"}
//	  pass_env: [CUDA_VISIBLE_DEVICES]
//
// Specs come sorted by name. Errors wrap ErrBadSpec and name the file, the
// line and the key. Names are checked against reserved (the built-in kinds).
func LoadFile(path string, reserved []string) ([]Spec, error) {
	data, err := yamlpos.ReadFile(path, 0)
	if err != nil {
		return nil, badf("--programs: %v", err)
	}
	return ParseFile(data, path, reserved)
}

// ParseFile parses the contents of a programs file named name (see
// LoadFile).
func ParseFile(data []byte, name string, reserved []string) ([]Spec, error) {
	return parseSpecs(data, name, "", reserved)
}

// ParseSection parses the programs map held by the top-level key of a
// larger YAML file named name, such as the programs: of a `dispatcher run`
// config. A missing or null key has no programs. Errors name the file, the
// line and the dotted path from key.
func ParseSection(data []byte, name, key string, reserved []string) ([]Spec, error) {
	return parseSpecs(data, name, key, reserved)
}

// parseSpecs parses the programs map at key ("": the whole document).
func parseSpecs(data []byte, name, key string, reserved []string) ([]Spec, error) {
	pf, err := yamlpos.Parse(data) // bounded: nesting and alias expansion
	if err != nil {
		return nil, badf("%s: %s", name, yamlpos.Message(err))
	}
	file := pf.Body()
	var raw any
	if file != nil {
		if err := yaml.NodeToValue(file, &raw); err != nil {
			return nil, badf("%s: %s", name, yamlpos.Message(err))
		}
	}
	var root []string
	if key != "" {
		doc, _ := raw.(map[string]any)
		raw, root = doc[key], []string{key}
	}
	if raw == nil {
		return nil, nil
	}
	bad := func(path []string, format string, args ...any) error {
		path = append(slices.Clone(root), path...)
		return badf("%s:%d: %s: %s", name, lineOf(file, path), strings.Join(path, "."), fmt.Sprintf(format, args...))
	}
	top, ok := raw.(map[string]any)
	if !ok {
		return nil, badf("%s:%d: %swant a map of programs (NAME: {command: [...]}), got %s", name, lineOf(file, root), strings.Join(append(root, ""), ": "), typeName(raw))
	}
	names := make([]string, 0, len(top))
	for k := range top {
		names = append(names, k)
	}
	sort.Strings(names)
	specs := make([]Spec, 0, len(names))
	for _, prog := range names {
		at := []string{prog}
		if err := checkName(prog, reserved); err != nil {
			return nil, bad(at, "%v", err)
		}
		m, ok := top[prog].(map[string]any)
		if !ok {
			return nil, bad(at, "want a map with command (and dir, timeout, env, pass_env), got %s", typeName(top[prog]))
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch k {
			case "command", "dir", "timeout", "env", "pass_env":
			default:
				return nil, bad(append(at, k), "unknown key (want command, dir, timeout, env, pass_env)")
			}
		}
		s := Spec{Name: prog}
		key := func(k string) []string { return []string{prog, k} }
		switch c := m["command"].(type) {
		case nil:
			return nil, bad(key("command"), "missing: want the argv, such as [python3, train.py]")
		case string:
			argv, err := SplitCommand(c)
			if err != nil {
				return nil, bad(key("command"), "%v", err)
			}
			s.Command = argv
		case []any:
			for i, e := range c {
				str, ok := e.(string)
				if !ok {
					return nil, bad(key("command"), "[%d]: want a string, got %s %v (quote it)", i, typeName(e), e)
				}
				s.Command = append(s.Command, str)
			}
		default:
			return nil, bad(key("command"), "want a list of strings or a command line, got %s", typeName(c))
		}
		if err := checkCommand(s.Command); err != nil {
			return nil, bad(key("command"), "empty argv: want a program and its arguments")
		}
		if v, ok := m["dir"]; ok {
			d, ok := v.(string)
			if !ok || d == "" {
				return nil, bad(key("dir"), "want a directory path, got %s %v", typeName(v), v)
			}
			s.Dir = d
		}
		if v, ok := m["timeout"]; ok {
			str, _ := v.(string)
			d, err := time.ParseDuration(str)
			if n, isInt := v.(uint64); isInt && n == 0 {
				d, err = 0, nil
			}
			if err != nil || d < 0 {
				return nil, bad(key("timeout"), "%v: want a Go duration ≥ 0 such as 90m or 2h", v)
			}
			s.Timeout = d
		}
		if v, ok := m["env"]; ok {
			env, ok := v.(map[string]any)
			if !ok {
				return nil, bad(key("env"), "want a map of NAME: value, got %s", typeName(v))
			}
			s.Env = make(map[string]string, len(env))
			for k, val := range env {
				if err := checkEnvName(k); err != nil {
					return nil, bad([]string{prog, "env", k}, "%v", err)
				}
				switch val.(type) {
				case string, int, int64, uint64, float64, bool:
					s.Env[k] = fmt.Sprint(val)
				default:
					return nil, bad([]string{prog, "env", k}, "want a string, got %s", typeName(val))
				}
			}
		}
		if v, ok := m["pass_env"]; ok {
			list, ok := v.([]any)
			if !ok {
				return nil, bad(key("pass_env"), "want a list of variable names, got %s", typeName(v))
			}
			for i, e := range list {
				str, ok := e.(string)
				if !ok {
					return nil, bad(key("pass_env"), "[%d]: want a variable name, got %s", i, typeName(e))
				}
				if err := checkEnvName(str); err != nil {
					return nil, bad(key("pass_env"), "[%d]: %v", i, err)
				}
				s.PassEnv = append(s.PassEnv, str)
			}
		}
		if err := s.check(reserved); err != nil { // whatever the checks above missed
			return nil, bad(at, "%v", err)
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// lineOf returns the line of the deepest key of path found in the file's
// first document, or 1.
func lineOf(body ast.Node, path []string) int {
	line := 1
	if body == nil {
		return line
	}
	node := body
	for _, k := range path {
		pair := findKey(node, k)
		if pair == nil {
			return line
		}
		line = pair.Key.GetToken().Position.Line
		node = pair.Value
	}
	return line
}

func findKey(n ast.Node, key string) *ast.MappingValueNode {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
			continue
		case *ast.TagNode:
			n = v.Value
			continue
		case *ast.MappingNode:
			for _, p := range v.Values {
				if keyString(p) == key {
					return p
				}
			}
		case *ast.MappingValueNode:
			if keyString(v) == key {
				return v
			}
		}
		return nil
	}
}

func keyString(p *ast.MappingValueNode) string {
	if p == nil || p.Key == nil {
		return ""
	}
	if s, ok := p.Key.(ast.ScalarNode); ok {
		return fmt.Sprint(s.GetValue())
	}
	return p.Key.String()
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
