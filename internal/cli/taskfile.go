package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// ParseTaskFile parses a whole task file named name (see TaskReader):
// a JSON or YAML list of task specs,
//
//   - kind: sleep            # required: the handler name
//     def: {duration: 30ms}  # required: the task definition
//     priority: 0            # optional integer, default 0
//     max_attempts: 3        # optional, default 3; 0 means unlimited
//
// with the default limits. Errors are *UsageError naming the file, the
// line and the entry. `dispatcher create` streams instead.
func ParseTaskFile(data []byte, name string) ([]taskstate.TaskSpec, error) {
	tr := NewTaskReader(bytes.NewReader(data), name, TaskFileLimits{})
	var specs []taskstate.TaskSpec
	for {
		e, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return specs, nil
		}
		if err != nil {
			return nil, err
		}
		specs = append(specs, e.Spec)
	}
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
