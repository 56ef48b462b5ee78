package rolling

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// maxCell is the widest a key-field cell of WriteTable gets, in runes.
const maxCell = 40

// WriteJSON writes tasks as an indented JSON array of the full documents,
// with dates as "2006-01-02" strings and open ends as null. HTML characters
// are not escaped, so placeholders such as "<MODEL>" stay readable.
func WriteJSON(w io.Writer, tasks []map[string]any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(NormalizeTasks(tasks)); err != nil {
		return fmt.Errorf("rolling: write JSON: %w", err)
	}
	return nil
}

// WriteTable writes tasks as an aligned text table, one row per task: the
// task index, the key fields, then each segment as [start, end] (null for an
// open end, "-" when the task lacks it). The key fields are model.class and
// the leaf values outside the segments that tell tasks of the same model
// class apart (for example the handler end time of each window, or a label
// set per horizon); values that only follow the model class, such as its
// module path, are left out. The model class is headed "model", the other
// columns by the shortest unambiguous end of their dotted path; long values
// are shortened. Segments are in the
// order train, valid, test, then the other keys sorted. segmentsPath ""
// means DefaultSegmentsPath.
func WriteTable(w io.Writer, tasks []map[string]any, segmentsPath string) error {
	if segmentsPath == "" {
		segmentsPath = DefaultSegmentsPath
	}
	tasks = NormalizeTasks(tasks)

	// Flatten every task, outside its segments, into dotted leaf paths.
	flat := make([]map[string]string, len(tasks))
	seen := map[string]bool{}
	for i, t := range tasks {
		flat[i] = map[string]string{}
		flatten(t, "", segmentsPath, flat[i])
		for k := range flat[i] {
			seen[k] = true
		}
	}
	var fields []string
	for k := range seen {
		if k == modelClass || variesWithinClass(flat, k) {
			fields = append(fields, k)
		}
	}
	slices.SortFunc(fields, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == modelClass:
			return -1
		case b == modelClass:
			return 1
		}
		return strings.Compare(a, b)
	})
	headers := shortNames(fields)

	// Segment keys in Qlib's usual order, then the rest.
	segKeys := map[string]bool{}
	segs := make([]map[string]any, len(tasks))
	for i, t := range tasks {
		if v, ok := GetPath(t, segmentsPath); ok {
			if m, ok := v.(map[string]any); ok {
				segs[i] = m
				for k := range m {
					segKeys[k] = true
				}
			}
		}
	}
	var keys []string
	for _, k := range []string{"train", "valid", "test"} {
		if segKeys[k] {
			keys = append(keys, k)
			delete(segKeys, k)
		}
	}
	keys = append(keys, sortedKeys(segKeys)...)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := append([]string{"#"}, headers...)
	row = append(row, keys...)
	fmt.Fprintln(tw, strings.Join(row, "\t"))
	for i := range tasks {
		row = row[:0]
		row = append(row, strconv.Itoa(i))
		for _, f := range fields {
			v, ok := flat[i][f]
			if !ok {
				v = "-"
			}
			row = append(row, shorten(v))
		}
		for _, k := range keys {
			v, ok := segs[i][k]
			if !ok {
				row = append(row, "-")
				continue
			}
			row = append(row, segmentCell(v))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("rolling: write table: %w", err)
	}
	return nil
}

// modelClass is the path of the model class, always a key field.
const modelClass = "model.class"

// flatten records the leaf values of v under their dotted paths (list
// elements under their index), skipping the subtree at skip.
func flatten(v any, path, skip string, out map[string]string) {
	if path == skip && path != "" {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 && path != "" {
			out[path] = "{}"
		}
		for k, e := range v {
			flatten(e, joinPath(path, k), skip, out)
		}
	case []any:
		if len(v) == 0 && path != "" {
			out[path] = "[]"
		}
		for i, e := range v {
			flatten(e, joinPath(path, strconv.Itoa(i)), skip, out)
		}
	default:
		out[path] = cellValue(v)
	}
}

// variesWithinClass reports whether the value at k differs between two
// tasks of the same model class, a missing value counting as different.
func variesWithinClass(flat []map[string]string, k string) bool {
	type value struct {
		v  string
		ok bool
	}
	first := map[string]value{}
	for _, f := range flat {
		class := f[modelClass]
		v, ok := f[k]
		if prev, seen := first[class]; !seen {
			first[class] = value{v, ok}
		} else if prev != (value{v, ok}) {
			return true
		}
	}
	return false
}

// shortNames returns, for each dotted path, its shortest ending that no
// other path shares and that does not start with a list index.
func shortNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		if p == modelClass {
			out[i] = "model"
			continue
		}
		parts := strings.Split(p, ".")
		for n := 1; n <= len(parts); n++ {
			name := strings.Join(parts[len(parts)-n:], ".")
			if _, err := strconv.Atoi(parts[len(parts)-n]); err == nil && n < len(parts) {
				continue
			}
			unique := true
			for j, q := range paths {
				if j != i && (q == name || strings.HasSuffix(q, "."+name)) {
					unique = false
					break
				}
			}
			if unique {
				out[i] = name
				break
			}
		}
		if out[i] == "" {
			out[i] = p
		}
	}
	return out
}

// cellValue renders a leaf value: strings as is, nil as null, anything else
// (numbers, lists) as JSON.
func cellValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// segmentCell renders a segment value as [start, end].
func segmentCell(v any) string {
	s, err := parseSegment(v)
	if err != nil {
		return shorten(cellValue(v))
	}
	return s.String()
}

// shorten cuts s to maxCell runes, marking the cut with "…", and replaces
// tabs and newlines, which would break the table.
func shorten(s string) string {
	s = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
	r := []rune(s)
	if len(r) <= maxCell {
		return s
	}
	return string(r[:maxCell-1]) + "…"
}
