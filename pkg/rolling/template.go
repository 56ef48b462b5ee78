package rolling

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Task documents are nested maps (map[string]any) as decoded from YAML or
// JSON: Qlib's task dicts. Values inside are maps, lists ([]any), strings,
// numbers, booleans and nil. Values are addressed by dotted paths such as
// "dataset.kwargs.segments.test"; a numeric element indexes a list
// ("dataset.kwargs.segments.test.0" is the test start), as in Qlib's
// "<dataset.kwargs.segments.train.0>" placeholders. Keys containing dots
// cannot be addressed.

const (
	// DefaultSegmentsPath is where segments live in a task unless a
	// generator is told otherwise: task["dataset"]["kwargs"]["segments"],
	// a map from segment key ("train", "valid", "test") to [start, end].
	DefaultSegmentsPath = "dataset.kwargs.segments"

	// HandlerEndTimePath is the handler end time that HandlerMod extends.
	HandlerEndTimePath = "dataset.kwargs.handler.kwargs.end_time"

	// DefaultTestKey is the default key of the test segment.
	DefaultTestKey = "test"

	// DefaultTrainKey is the default key of the train segment.
	DefaultTrainKey = "train"
)

// GetPath returns the value at a dotted path in doc and whether it exists.
func GetPath(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for _, part := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[part]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// SetPath sets the value at a dotted path in doc, creating missing maps on
// the way. It returns a *PathError when the path runs through a value that is
// neither a map nor a list (for example a handler given as a string), or
// through a list with no such index.
func SetPath(doc map[string]any, path string, v any) error {
	if path == "" {
		return &PathError{Path: path, Err: errors.New("empty path")}
	}
	parts := strings.Split(path, ".")
	var cur any = doc
	for i, part := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[part] = v
				return nil
			}
			next, ok := c[part]
			if !ok || next == nil {
				next = map[string]any{}
				c[part] = next
			}
			cur = next
		case []any:
			idx, err := strconv.Atoi(part)
			if err != nil || idx < 0 || idx >= len(c) {
				return &PathError{Path: strings.Join(parts[:i+1], "."), Err: fmt.Errorf("no element %q in a list of %d", part, len(c))}
			}
			if last {
				c[idx] = v
				return nil
			}
			cur = c[idx]
		default:
			return &PathError{Path: strings.Join(parts[:i], "."), Err: fmt.Errorf("cannot set %q inside a %s", strings.Join(parts[i:], "."), kindOf(cur))}
		}
	}
	return nil
}

// CopyTask returns a deep copy of a task document: maps and lists are
// copied, other values (strings, numbers, times) are shared, as they are
// immutable. It is Qlib's copy.deepcopy for task dicts.
func CopyTask(task map[string]any) map[string]any {
	if task == nil {
		return nil
	}
	return copyValue(task).(map[string]any)
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = copyValue(e)
		}
		return out
	case map[any]any:
		out := make(map[any]any, len(v))
		for k, e := range v {
			out[k] = copyValue(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	case []string:
		return append([]string(nil), v...)
	case []map[string]any:
		out := make([]map[string]any, len(v))
		for i, e := range v {
			out[i] = CopyTask(e)
		}
		return out
	default:
		return v
	}
}

// kindOf names the type of a document value for error messages.
func kindOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string (%q)", v)
	case map[string]any, map[any]any:
		return "map"
	case []any, []string:
		return "list"
	case bool:
		return "bool"
	case time.Time:
		return "date"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// joinPath joins two dotted paths; either may be empty.
func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "." + b
}

// prefixPath returns err with prefix put in front of its path: a *PathError
// gets a longer path, any other error becomes a *PathError at prefix.
func prefixPath(prefix string, err error) error {
	var pe *PathError
	if errors.As(err, &pe) {
		return &PathError{Path: joinPath(prefix, pe.Path), Err: pe.Err}
	}
	return &PathError{Path: prefix, Err: err}
}

// parseDateValue parses one end of a segment: nil is an open end, a string is
// parsed with ParseDate, a time.Time is used as is.
func parseDateValue(v any) (time.Time, error) {
	switch v := v.(type) {
	case nil:
		return time.Time{}, nil
	case string:
		return ParseDate(v)
	case time.Time:
		if v.IsZero() {
			return time.Time{}, nil
		}
		return wallUTC(v), nil
	case *time.Time:
		if v == nil || v.IsZero() {
			return time.Time{}, nil
		}
		return wallUTC(*v), nil
	default:
		return time.Time{}, fmt.Errorf("want a date string or null, got %s %v", kindOf(v), v)
	}
}

// parseSegment parses a segment value: a two-element list ([]any, []string
// or []time.Time) of dates or nils. An error about one end is a *pointError.
func parseSegment(v any) (Segment, error) {
	var pair []any
	switch v := v.(type) {
	case []any:
		pair = v
	case []string:
		for _, s := range v {
			pair = append(pair, s)
		}
	case []time.Time:
		for _, t := range v {
			pair = append(pair, t)
		}
	case [2]any:
		pair = v[:]
	case Segment:
		return v, nil
	default:
		return Segment{}, fmt.Errorf("want a [start, end] list, got %s", kindOf(v))
	}
	if len(pair) != 2 {
		return Segment{}, fmt.Errorf("want a [start, end] list, got %d elements", len(pair))
	}
	var out [2]time.Time
	for i, e := range pair {
		t, err := parseDateValue(e)
		if err != nil {
			return Segment{}, &pointError{i, err}
		}
		out[i] = t
	}
	return Segment{Start: out[0], End: out[1]}, nil
}

// segmentValue renders a segment in document form: ["2006-01-02", nil].
func segmentValue(s Segment) []any {
	return []any{dateValue(s.Start), dateValue(s.End)}
}

// dateValue renders a date as "2006-01-02", or nil for an open end.
func dateValue(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return FormatDate(t)
}

// ReadSegments returns the segments of a task stored at path (a map from key
// to [start, end]); path "" means DefaultSegmentsPath. Dates are parsed but
// not aligned. Errors are *PathErrors naming the offending value, e.g.
// `dataset.kwargs.segments.test.0: bad date "2020-13-01"`.
func ReadSegments(task map[string]any, path string) (map[string]Segment, error) {
	if path == "" {
		path = DefaultSegmentsPath
	}
	v, ok := GetPath(task, path)
	if !ok {
		return nil, pathErrorf(path, "missing: the task has no segments here")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, pathErrorf(path, "want a map of segments, got %s", kindOf(v))
	}
	segs := make(map[string]Segment, len(m))
	for _, k := range sortedKeys(m) {
		s, err := parseSegment(m[k])
		if err != nil {
			return nil, prefixPath(path, segmentError(k, err))
		}
		segs[k] = s
	}
	return segs, nil
}

// WriteSegments replaces the segments of a task at path ("" means
// DefaultSegmentsPath) with segs, written as ["2006-01-02", nil] lists (Qlib:
// task["dataset"]["kwargs"]["segments"] = deepcopy(segs)).
func WriteSegments(task map[string]any, path string, segs map[string]Segment) error {
	if path == "" {
		path = DefaultSegmentsPath
	}
	m := make(map[string]any, len(segs))
	for k, s := range segs {
		m[k] = segmentValue(s)
	}
	return SetPath(task, path, m)
}

// normalize returns a JSON-friendly copy of a document value: times become
// "2006-01-02" strings (with the time of day when there is one), maps with
// non-string keys get string keys, typed slices become []any.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = e
		}
		return out
	case []map[string]any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	case time.Time:
		return formatTime(v)
	case *time.Time:
		if v == nil {
			return nil
		}
		return formatTime(*v)
	default:
		return v
	}
}

func formatTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if w := wallUTC(t); w.Equal(dayOf(w)) {
		return FormatDate(w)
	}
	return wallUTC(t).Format("2006-01-02 15:04:05")
}

// NormalizeTasks returns JSON-friendly deep copies of tasks: dates as
// "2006-01-02" strings, open ends as nil, maps keyed by strings.
func NormalizeTasks(tasks []map[string]any) []map[string]any {
	out := make([]map[string]any, len(tasks))
	for i, t := range tasks {
		if t == nil {
			continue
		}
		out[i] = normalize(t).(map[string]any)
	}
	return out
}
