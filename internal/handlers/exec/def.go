package exec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrBadDef means the def is malformed; the message names the field.
var ErrBadDef = errors.New("exec: bad def")

// Def is the def of the exec task kind. Its JSON form is the task document
// itself (see DefFromMap), so a def stored as a document converts to a Def.
type Def struct {
	// Command is the program and its arguments (argv). Required. It is run
	// directly, not through a shell.
	Command []string

	// Timeout bounds the run, as a Go duration ("90s", "2h"). Empty means no
	// timeout.
	Timeout string

	// Dir is the working directory. Defaults to the worker's.
	Dir string

	// Env holds extra KEY=VALUE variables, added to the worker's environment.
	Env []string

	// Task is the full task document as JSON, given to the program on stdin
	// and in the file named by TASKFLEET_TASK_FILE. Defaults to a document
	// built from the fields above.
	Task json.RawMessage
}

// validate checks d and returns its timeout (0: none).
func (d Def) validate() (time.Duration, error) {
	if len(d.Command) == 0 || d.Command[0] == "" {
		return 0, fmt.Errorf("%w: command: want a non-empty list such as [\"python3\", \"train.py\"]", ErrBadDef)
	}
	var timeout time.Duration
	if d.Timeout != "" {
		var err error
		if timeout, err = time.ParseDuration(d.Timeout); err != nil || timeout <= 0 {
			return 0, fmt.Errorf("%w: timeout %q: want a positive Go duration such as \"90s\"", ErrBadDef, d.Timeout)
		}
	}
	for i, kv := range d.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return 0, fmt.Errorf("%w: env.%d %q: want KEY=VALUE", ErrBadDef, i, kv)
		}
	}
	if len(d.Task) > 0 && !json.Valid(d.Task) {
		return 0, fmt.Errorf("%w: task document is not valid JSON", ErrBadDef)
	}
	return timeout, nil
}

// DefFromMap reads a def from a task document:
//
//	{"command": ["python3", "train.py"], "timeout": "10m",
//	 "dir": "/srv/models", "env": {"OMP_NUM_THREADS": "1"}, ...anything else}
//
// command is required; timeout, dir and env are optional; every other key is
// left for the program, which receives the whole document. Errors wrap
// ErrBadDef and name the key.
func DefFromMap(m map[string]any) (Def, error) {
	var d Def
	switch c := m["command"].(type) {
	case nil:
		return Def{}, fmt.Errorf("%w: command: missing", ErrBadDef)
	case []string:
		d.Command = slices.Clone(c)
	case []any:
		for i, e := range c {
			s, ok := e.(string)
			if !ok {
				return Def{}, fmt.Errorf("%w: command.%d: want a string, got %T %v", ErrBadDef, i, e, e)
			}
			d.Command = append(d.Command, s)
		}
	default:
		return Def{}, fmt.Errorf("%w: command: want a list of strings (argv), got %T %v", ErrBadDef, c, c)
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"timeout", &d.Timeout}, {"dir", &d.Dir}} {
		switch v := m[f.key].(type) {
		case nil:
		case string:
			*f.dst = v
		default:
			return Def{}, fmt.Errorf("%w: %s: want a string, got %T %v", ErrBadDef, f.key, v, v)
		}
	}
	switch env := m["env"].(type) {
	case nil:
	case map[string]any:
		for k, v := range env {
			s, ok := v.(string)
			if !ok {
				return Def{}, fmt.Errorf("%w: env.%s: want a string, got %T %v", ErrBadDef, k, v, v)
			}
			d.Env = append(d.Env, k+"="+s)
		}
		slices.Sort(d.Env)
	default:
		return Def{}, fmt.Errorf("%w: env: want a map of strings, got %T %v", ErrBadDef, env, env)
	}
	doc, err := json.Marshal(m)
	if err != nil {
		return Def{}, fmt.Errorf("%w: task document: %w", ErrBadDef, err)
	}
	d.Task = doc
	if _, err := d.validate(); err != nil {
		return Def{}, err
	}
	return d, nil
}

// document returns the JSON given to the program.
func (d Def) document() ([]byte, error) {
	if len(d.Task) > 0 {
		return d.Task, nil
	}
	m := map[string]any{"command": d.Command}
	if d.Timeout != "" {
		m["timeout"] = d.Timeout
	}
	if d.Dir != "" {
		m["dir"] = d.Dir
	}
	if len(d.Env) > 0 {
		env := map[string]string{}
		for _, kv := range d.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		m["env"] = env
	}
	return json.Marshal(m)
}

// MarshalJSON returns the task document.
func (d Def) MarshalJSON() ([]byte, error) { return d.document() }

// UnmarshalJSON reads a task document with DefFromMap.
func (d *Def) UnmarshalJSON(b []byte) error {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep the document's numbers exact when it is re-encoded
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("%w: %w", ErrBadDef, err)
	}
	def, err := DefFromMap(m)
	if err != nil {
		return err
	}
	*d = def
	return nil
}
