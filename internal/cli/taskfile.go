package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/goccy/go-yaml"

	"github.com/taskfleet/taskfleet/internal/yamlpos"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// LoadTaskFile reads a JSON or YAML list of task specs:
//
//   - kind: sleep            # required: the handler name
//     def: {duration: 30ms}  # required: the task definition
//     priority: 0            # optional, default 0
//     max_attempts: 3        # optional, default 3; 0 means unlimited
//
// Errors are *UsageError naming the file, the line and the entry.
func LoadTaskFile(path string) ([]taskstate.TaskSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Usagef("-f: %v", err)
	}
	return ParseTaskFile(data, path)
}

// ParseTaskFile parses the contents of a task file named name.
func ParseTaskFile(data []byte, name string) ([]taskstate.TaskSpec, error) {
	if err := checkUTF8(data, name); err != nil {
		return nil, err
	}
	file, err := yamlpos.Parse(data)
	if err != nil {
		return nil, Usagef("%s: %s", name, yamlpos.Message(err))
	}
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, Usagef("%s: %s", name, yamlpos.Message(err))
	}
	if raw == nil {
		return nil, Usagef("%s: no tasks (want a list of {kind, def})", name)
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, Usagef("%s:1: want a list of tasks, got %s", name, typeName(raw))
	}
	bad := func(path yamlpos.Path, format string, args ...any) error {
		return Usagef("%s: %s: %s", yamlpos.Where(name, file.Line(path)), path, fmt.Sprintf(format, args...))
	}
	specs := make([]taskstate.TaskSpec, 0, len(list))
	for i, item := range list {
		at := yamlpos.Path{i}
		m, ok := item.(map[string]any)
		if !ok {
			return nil, bad(at, "want a map with kind and def, got %s", typeName(item))
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var spec taskstate.TaskSpec
		for _, k := range keys {
			switch k {
			case "kind", "def", "priority", "max_attempts":
			default:
				return nil, bad(at.Append(k), "unknown field (want kind, def, priority, max_attempts)")
			}
		}
		kind, ok := m["kind"].(string)
		if !ok || kind == "" {
			return nil, bad(at, "kind is required and must be a string")
		}
		spec.Kind = kind
		if m["def"] == nil {
			return nil, bad(at, "def is required")
		}
		spec.Def = m["def"]
		if v, ok := m["priority"]; ok {
			n, ok := asInt(v)
			if !ok {
				return nil, bad(at.Append("priority"), "want an integer, got %v", v)
			}
			spec.Priority = n
		}
		if v, ok := m["max_attempts"]; ok {
			n, ok := asInt(v)
			if !ok || n < 0 {
				return nil, bad(at.Append("max_attempts"), "want an integer ≥ 0 (0 means unlimited), got %v", v)
			}
			spec.MaxAttempts = n
			if n == 0 {
				spec.MaxAttempts = taskstate.UnlimitedAttempts
			}
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

func asInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case uint64:
		if x > math.MaxInt32 {
			return 0, false
		}
		return int(x), true
	case float64:
		if x != math.Trunc(x) {
			return 0, false
		}
		return int(x), true
	}
	return 0, false
}

func typeName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	case string:
		return "a string"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%T", v)
}

// TaskFileEntry is one entry of a task file, as ParseTaskFile reads it.
type TaskFileEntry struct {
	Kind string `json:"kind"`
	Def  any    `json:"def"`
	// Priority is left out when 0.
	Priority int `json:"priority,omitempty"`
	// MaxAttempts is left out for the default; 0 is unlimited.
	MaxAttempts *int `json:"max_attempts,omitempty"`
}

// TaskFileOf returns the task file entries of specs; kind, when not empty,
// replaces their kind.
func TaskFileOf(specs []taskstate.TaskSpec, kind string) []TaskFileEntry {
	out := make([]TaskFileEntry, len(specs))
	for i, s := range specs {
		e := TaskFileEntry{Kind: s.Kind, Def: s.Def, Priority: s.Priority}
		if kind != "" {
			e.Kind = kind
		}
		switch n := s.MaxAttempts; {
		case n == taskstate.UnlimitedAttempts:
			e.MaxAttempts = new(int)
		case n > 0:
			e.MaxAttempts = &n
		}
		out[i] = e
	}
	return out
}

// WriteTaskFile writes entries as a JSON task file, indented, with HTML
// characters unescaped so that Qlib's placeholders ("<MODEL>") stay
// readable.
func WriteTaskFile(w io.Writer, entries []TaskFileEntry) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(entries)
}
