package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/taskfleet/taskfleet/internal/yamlpos"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Defaults of TaskFileLimits.
const (
	// DefaultMaxTaskFileBytes bounds a task file: 4 GiB.
	DefaultMaxTaskFileBytes = 4 << 30
	// DefaultMaxEntryBytes bounds the text of one JSON entry: 32 MiB,
	// above the 15 MiB cap on an encoded def.
	DefaultMaxEntryBytes = 32 << 20
	// DefaultMaxYAMLEntryBytes bounds the text of one YAML entry: 4 MiB.
	// The YAML parser takes about 40 times the text in memory. A file that
	// is neither a JSON array nor a YAML block list is read whole under
	// this bound.
	DefaultMaxYAMLEntryBytes = 4 << 20
	// DefaultMaxEntries bounds the entries of a task file: 10,000,000.
	DefaultMaxEntries = 10_000_000
	// DefaultMaxDepth bounds the nesting of an entry (its map is level 1).
	DefaultMaxDepth = yamlpos.MaxFlowDepth
)

// TaskFileLimits bound what a TaskReader accepts; a zero field takes its
// default. With them a task file of any length is read in memory bounded
// by one entry (MaxEntryBytes) and its decoded value.
type TaskFileLimits struct {
	MaxBytes      int64 // the whole file; default DefaultMaxTaskFileBytes
	MaxEntryBytes int   // one entry's text; default DefaultMaxEntryBytes for JSON, DefaultMaxYAMLEntryBytes for YAML
	MaxEntries    int   // entries; default DefaultMaxEntries
	MaxDepth      int   // nesting of an entry; default DefaultMaxDepth
	MaxNodes      int   // YAML nodes of an entry with aliases expanded; default yamlpos.MaxNodes
}

func (l TaskFileLimits) withDefaults() TaskFileLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxTaskFileBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = yamlpos.MaxNodes
	}
	return l
}

// TaskEntry is one entry of a task file and where it was written.
type TaskEntry struct {
	Spec  taskstate.TaskSpec
	Index int // 0-based position in the file's list
	Line  int // the line the entry starts on
}

// Where renders the entry's position for a message: "tasks.json:12: [3]".
func (e TaskEntry) Where(file string) string {
	return yamlpos.Where(file, e.Line) + ": " + yamlpos.Path{e.Index}.String()
}

// TaskReader reads a task file entry by entry, so that a file of any
// length is parsed once and in bounded memory:
//
//   - a JSON array ("[" first) is split into its elements by a scanner
//     that tracks lines, depth and size, then each element is decoded;
//   - a YAML block list ("- kind: ..." items at one column) is split at
//     its items, then each item is parsed (anchors and aliases work within
//     an item, not across items);
//   - anything else (a flow list, a map, nothing) is read whole, at most
//     MaxEntryBytes, and parsed as one YAML document.
//
// Priorities and max_attempts are parsed exactly: integers only, in range.
// Every error is a *UsageError naming the file, the line and the limit or
// the entry.
type TaskReader struct {
	name string
	lim  TaskFileLimits
	r    *bufio.Reader
	read int64 // bytes consumed
	line int   // the line of the next byte, 1-based
	n    int   // entries returned
	next func() (TaskEntry, error)
	buf  []byte

	// JSON
	inList bool // an element was read: a ',' or ']' comes next
	// YAML
	seqCol    int
	pending   []byte // a line read ahead: the next item's first
	pendingNo int
	items     []ast.Node
	offset    int // added to the lines of items
	done      bool
}

// NewTaskReader reads the task file r named name.
func NewTaskReader(r io.Reader, name string, lim TaskFileLimits) *TaskReader {
	t := &TaskReader{name: name, lim: lim.withDefaults(), r: bufio.NewReaderSize(newUTF8Reader(r, name), 64<<10), line: 1, seqCol: -1}
	t.next = t.detect
	return t
}

// Next returns the next entry, or io.EOF after the last.
func (t *TaskReader) Next() (TaskEntry, error) {
	e, err := t.next()
	if err != nil {
		t.next = func() (TaskEntry, error) { return TaskEntry{}, err }
		return e, err
	}
	if t.n++; t.n > t.lim.MaxEntries {
		err := Usagef("%s: more than %d entries (the limit; raise it with --max-tasks)", yamlpos.Where(t.name, e.Line), t.lim.MaxEntries)
		t.next = func() (TaskEntry, error) { return TaskEntry{}, err }
		return TaskEntry{}, err
	}
	return e, nil
}

// ReadBatch appends up to n entries to dst[:0] and returns it; the error
// is io.EOF after the last entry (possibly with entries).
func (t *TaskReader) ReadBatch(dst []TaskEntry, n int) ([]TaskEntry, error) {
	dst = dst[:0]
	for len(dst) < n {
		e, err := t.Next()
		if err != nil {
			return dst, err
		}
		dst = append(dst, e)
	}
	return dst, nil
}

func (t *TaskReader) errorf(line int, format string, args ...any) error {
	return Usagef("%s: %s", yamlpos.Where(t.name, line), fmt.Sprintf(format, args...))
}

func (t *TaskReader) count(n int) error {
	if t.read += int64(n); t.read > t.lim.MaxBytes {
		return t.errorf(t.line, "the file is larger than %d bytes (the limit; raise it with --max-file-size)", t.lim.MaxBytes)
	}
	return nil
}

func (t *TaskReader) readByte() (byte, error) {
	c, err := t.r.ReadByte()
	if err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, ErrUsage) {
			err = Usagef("%s: %v", t.name, err)
		}
		return 0, err
	}
	if err := t.count(1); err != nil {
		return 0, err
	}
	if c == '\n' {
		t.line++
	}
	return c, nil
}

// detect picks the reader by the first significant byte.
func (t *TaskReader) detect() (TaskEntry, error) {
	if bom, _ := t.r.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = t.r.Discard(3)
	}
	head, _ := t.r.Peek(t.r.Size()) // what is buffered: leading space beyond it means YAML
	i := 0
	for i < len(head) && isJSONSpace(head[i]) {
		i++
	}
	if i < len(head) && head[i] == '[' {
		for range i + 1 {
			_, _ = t.readByte()
		}
		t.next = t.nextJSON
		t.lim.MaxEntryBytes = cmp.Or(t.lim.MaxEntryBytes, DefaultMaxEntryBytes)
	} else {
		t.next = t.nextYAML
		t.lim.MaxEntryBytes = cmp.Or(t.lim.MaxEntryBytes, DefaultMaxYAMLEntryBytes)
	}
	return t.next()
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (t *TaskReader) skipSpace() (byte, error) {
	for {
		c, err := t.readByte()
		if err != nil || !isJSONSpace(c) {
			return c, err
		}
	}
}

// nextJSON splits off the next element of the top-level array.
func (t *TaskReader) nextJSON() (TaskEntry, error) {
	c, err := t.skipSpace()
	if t.inList && err == nil {
		if c == ',' {
			c, err = t.skipSpace()
		} else if c != ']' {
			return TaskEntry{}, t.errorf(t.line, "want , or ] after an entry, got %q", c)
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		return TaskEntry{}, t.errorf(t.line, "unexpected end of file: the list is not closed with ]")
	case err != nil:
		return TaskEntry{}, err
	case c == ']':
		if c, err := t.skipSpace(); !errors.Is(err, io.EOF) {
			if err != nil {
				return TaskEntry{}, err
			}
			return TaskEntry{}, t.errorf(t.line, "unexpected %q after the list", c)
		}
		return TaskEntry{}, io.EOF
	}
	t.inList = true
	start := t.line
	t.buf = append(t.buf[:0], c)
	depth, q := 0, jsonQuote{in: c == '"'}
	if c == '{' || c == '[' {
		depth = 1
	}
	for depth > 0 || q.in {
		b, err := t.readByte()
		if errors.Is(err, io.EOF) {
			return TaskEntry{}, t.errorf(start, "%s: unexpected end of file in this entry", yamlpos.Path{t.n})
		}
		if err != nil {
			return TaskEntry{}, err
		}
		if t.buf = append(t.buf, b); len(t.buf) > t.lim.MaxEntryBytes {
			return TaskEntry{}, t.errorf(start, "%s: the entry is larger than %d bytes (the limit; raise it with --max-entry-size)", yamlpos.Path{t.n}, t.lim.MaxEntryBytes)
		}
		switch {
		case q.quoted(b):
		case b == '{' || b == '[':
			if depth++; depth > t.lim.MaxDepth {
				return TaskEntry{}, t.errorf(t.line, "%s: nested more than %d deep (the limit; raise it with --max-depth)", yamlpos.Path{t.n}, t.lim.MaxDepth)
			}
		case b == '}' || b == ']':
			depth--
		}
	}
	if c != '{' && c != '"' && c != '[' { // a scalar: up to the next delimiter
		for {
			p, err := t.r.Peek(1)
			if err != nil || isJSONSpace(p[0]) || p[0] == ',' || p[0] == ']' || len(t.buf) > 64 {
				break
			}
			b, _ := t.readByte()
			t.buf = append(t.buf, b)
		}
	}
	return t.jsonEntry(t.buf, start)
}

func (t *TaskReader) jsonEntry(raw []byte, line int) (TaskEntry, error) {
	e := TaskEntry{Index: t.n, Line: line}
	at := yamlpos.Path{t.n}
	if raw[0] != '{' {
		return e, t.errorf(line, "%s: want a map with kind and def, got %s", at, jsonTypeName(raw[0]))
	}
	if kind, def, ok := plainJSONEntry(raw); ok {
		e.Spec.Kind, e.Spec.Def = kind, def
		return e, nil
	}
	return t.jsonFields(raw, line)
}

// jsonFields reads an entry field by field.
func (t *TaskReader) jsonFields(raw []byte, line int) (TaskEntry, error) {
	e := TaskEntry{Index: t.n, Line: line}
	at := yamlpos.Path{t.n}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line += bytes.Count(raw[:min(int(se.Offset), len(raw))], []byte("\n"))
		}
		return e, t.errorf(line, "%s: %v", at, err)
	}
	bad := func(key, format string, args ...any) error {
		return t.errorf(jsonKeyLine(raw, line, key), "%s: %s", at.Append(key), fmt.Sprintf(format, args...))
	}
	if err := checkKeys(slices.Collect(mapKeys(m)), func(k string) error { return bad(k, "%s", unknownField) }); err != nil {
		return e, err
	}
	if err := json.Unmarshal(m["kind"], &e.Spec.Kind); err != nil || e.Spec.Kind == "" {
		return e, t.errorf(line, "%s: kind is required and must be a string", at)
	}
	if d := m["def"]; d == nil || string(d) == "null" {
		return e, t.errorf(line, "%s: def is required", at)
	}
	if err := json.Unmarshal(m["def"], &e.Spec.Def); err != nil {
		return e, bad("def", "%v", err)
	}
	for _, f := range intFields(&e.Spec) {
		raw, ok := m[f.key]
		if !ok {
			continue
		}
		n, err := jsonInt(string(raw))
		if err == nil {
			err = f.set(n)
		}
		if err != nil {
			return e, bad(f.key, "%v", err)
		}
	}
	return e, nil
}

// plainJSONEntry reads the common entry, {kind, def} with a kind and a
// def, in one pass; ok is false for any other (with more fields, or
// something wrong), which jsonEntry then reads field by field to name
// what is wrong and where. The def decodes as it does there.
func plainJSONEntry(raw []byte) (kind string, def any, ok bool) {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil || len(m) != 2 {
		return "", nil, false
	}
	kind, _ = m["kind"].(string)
	def = m["def"]
	return kind, def, kind != "" && def != nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

const unknownField = "unknown field (want kind, def, priority, max_attempts)"

// checkKeys reports the first unknown key, in sorted order.
func checkKeys(keys []string, bad func(string) error) error {
	slices.Sort(keys)
	for _, k := range keys {
		switch k {
		case "kind", "def", "priority", "max_attempts":
		default:
			return bad(k)
		}
	}
	return nil
}

// intField is an integer field of an entry and how to store it.
type intField struct {
	key string
	set func(int64) error
}

func intFields(s *taskstate.TaskSpec) []intField {
	return []intField{
		{"priority", func(n int64) error { s.Priority = int(n); return nil }},
		{"max_attempts", func(n int64) error {
			if n < 0 || n > math.MaxInt32 {
				return fmt.Errorf("want an integer from 0 to %d (0 means unlimited), got %d", math.MaxInt32, n)
			}
			s.MaxAttempts = int(n)
			if n == 0 {
				s.MaxAttempts = taskstate.UnlimitedAttempts
			}
			return nil
		}},
	}
}

// jsonInt parses a JSON number literal exactly: no fraction, no exponent,
// no rounding of a large integer.
func jsonInt(lit string) (int64, error) {
	if !yamlpos.IsIntegerLiteral(lit) {
		return 0, yamlpos.NotAnInteger(lit)
	}
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil {
		return 0, yamlpos.OutOfRange(lit)
	}
	return n, nil
}

func jsonTypeName(c byte) string {
	switch c {
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 'n':
		return "nothing"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// jsonQuote follows the strings of a JSON text byte by byte, so that
// brackets and quotes inside them are not taken for structure.
type jsonQuote struct{ in, esc bool }

// quoted reports whether b belongs to a string (its quotes included),
// updating the state.
func (q *jsonQuote) quoted(b byte) bool {
	switch {
	case q.in:
		switch {
		case q.esc:
			q.esc = false
		case b == '\\':
			q.esc = true
		case b == '"':
			q.in = false
		}
		return true
	case b == '"':
		q.in = true
		return true
	}
	return false
}

// jsonKeyLine returns the line of key among the top-level keys of the
// object raw, which starts on line; line when not found.
func jsonKeyLine(raw []byte, line int, key string) int {
	want := `"` + key + `"`
	depth, q, l := 0, jsonQuote{}, line
	for i, b := range raw {
		switch {
		case b == '\n':
			l++
		case !q.in && b == '"' && depth == 1 && bytes.HasPrefix(raw[i:], []byte(want)):
			return l
		case q.quoted(b):
		case b == '{' || b == '[':
			depth++
		case b == '}' || b == ']':
			depth--
		}
	}
	return line
}

// readLine returns the next line with its newline, at most
// MaxEntryBytes, and its number.
func (t *TaskReader) readLine() ([]byte, int, error) {
	if t.pending != nil {
		l := t.pending
		t.pending = nil
		return l, t.pendingNo, nil
	}
	no := t.line
	var line []byte
	for {
		frag, err := t.r.ReadSlice('\n')
		if cerr := t.count(len(frag)); cerr != nil {
			return nil, no, cerr
		}
		if line = append(line, frag...); len(line) > t.lim.MaxEntryBytes {
			return nil, no, t.errorf(no, "a line longer than %d bytes (the limit of an entry; raise it with --max-entry-size)", t.lim.MaxEntryBytes)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil:
			t.line++
			return line, no, nil
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, no, nil
		case errors.Is(err, io.EOF), errors.Is(err, ErrUsage):
			return nil, no, err
		}
		return nil, no, Usagef("%s: %v", t.name, err)
	}
}

// lineKind classifies a YAML line: blank or comment, an item of a block
// list at column col, or other content at column col.
func lineKind(l []byte) (col int, item, content bool) {
	for col < len(l) && l[col] == ' ' {
		col++
	}
	rest := bytes.TrimRight(l[col:], "\r\n")
	if len(rest) == 0 || rest[0] == '#' {
		return col, false, false
	}
	return col, rest[0] == '-' && (len(rest) == 1 || rest[1] == ' ' || rest[1] == '\t'), true
}

// nextYAML returns the next item of a YAML block list, splitting the file
// at the lines that start an item at the list's column.
func (t *TaskReader) nextYAML() (TaskEntry, error) {
	for len(t.items) == 0 {
		if t.done {
			if t.n == 0 {
				return TaskEntry{}, t.errorf(0, "no tasks (want a list of {kind, def})")
			}
			return TaskEntry{}, io.EOF
		}
		if err := t.readItem(); err != nil {
			return TaskEntry{}, err
		}
	}
	item := t.items[0]
	t.items = t.items[1:]
	return t.yamlEntry(item, t.offset)
}

// readItem reads the next item's lines (or, for a file that is not a
// block list, the whole file) and parses them into t.items.
func (t *TaskReader) readItem() error {
	chunk, first := t.buf[:0], 0
	for {
		l, no, err := t.readLine()
		if errors.Is(err, io.EOF) {
			t.done = true
			break
		}
		if err != nil {
			return err
		}
		col, item, content := lineKind(l)
		if content && t.seqCol < 0 {
			switch {
			case item:
				t.seqCol = col
			case bytes.HasPrefix(l, []byte("---")) || l[0] == '%':
				continue // the document start and directives
			default: // not a block list: read the rest whole
				return t.readWhole(l, no-1)
			}
		}
		if content {
			switch {
			case col == 0 && bytes.HasPrefix(l, []byte("...")):
				t.done = true
			case col == 0 && bytes.HasPrefix(l, []byte("---")):
				return t.errorf(no, "a second YAML document: a task file holds one list")
			case col == t.seqCol && item && first != 0:
				t.pending, t.pendingNo = l, no
				return t.parseItems(chunk, first)
			case col < t.seqCol:
				return t.errorf(no, "want the tasks as items of one list (\"- kind: ...\" at column %d)", t.seqCol+1)
			}
			if t.done {
				break
			}
			if first == 0 {
				first = no
			}
		}
		if first == 0 {
			continue
		}
		if chunk = append(chunk, l...); len(chunk) > t.lim.MaxEntryBytes {
			return t.errorf(first, "%s: the entry is larger than %d bytes (the limit; raise it with --max-entry-size)", yamlpos.Path{t.n}, t.lim.MaxEntryBytes)
		}
	}
	t.buf = chunk
	if first == 0 {
		return nil
	}
	return t.parseItems(chunk, first)
}

// readWhole reads the rest of a file that is not a block list, from its
// first content line head (after offset lines), and parses it as one
// document, which must be a list.
func (t *TaskReader) readWhole(head []byte, offset int) error {
	data := slices.Clone(head)
	for {
		l, _, err := t.readLine()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if data = append(data, l...); len(data) > t.lim.MaxEntryBytes {
			return t.errorf(t.line, "a task file that is not a JSON array or a YAML block list (\"- kind: ...\") is read whole, and this one is larger than %d bytes (the limit; raise it with --max-entry-size)", t.lim.MaxEntryBytes)
		}
	}
	t.done = true
	f, err := t.parse(data, offset)
	if err != nil {
		return err
	}
	body := f.Body()
	if body == nil {
		return nil
	}
	seq, ok := unwrap(body).(*ast.SequenceNode)
	if !ok {
		var v any
		_ = yaml.NodeToValue(body, &v)
		return t.errorf(nodeLine(body, offset), "want a list of tasks, got %s", typeName(v))
	}
	t.items, t.offset = seq.Values, offset
	return nil
}

// parseItems parses the lines of one or more items starting on line first.
func (t *TaskReader) parseItems(chunk []byte, first int) error {
	f, err := t.parse(chunk, first-1)
	if err != nil {
		return err
	}
	seq, ok := unwrap(f.Body()).(*ast.SequenceNode)
	if !ok {
		return t.errorf(first, "want the tasks as items of one list (\"- kind: ...\")")
	}
	t.items, t.offset = seq.Values, first-1
	return nil
}

func (t *TaskReader) parse(data []byte, offset int) (*yamlpos.File, error) {
	f, err := yamlpos.ParseLimits(data, yamlpos.Limits{MaxDepth: t.lim.MaxDepth, MaxColumn: 10 * t.lim.MaxDepth, MaxNodes: t.lim.MaxNodes})
	var tc *yamlpos.TooComplexError
	switch {
	case errors.As(err, &tc):
		flag := "--max-depth"
		if strings.Contains(tc.What, "aliases") {
			flag = "--max-nodes"
		}
		return nil, t.errorf(tc.Line+offset, "%v: %s (the limit; raise it with %s)", yamlpos.ErrTooComplex, tc.What, flag)
	case err != nil:
		if tk, msg, ok := yamlpos.ErrorToken(err); ok && tk != nil && tk.Position != nil {
			return nil, t.errorf(tk.Position.Line+offset, "%s", msg)
		}
		return nil, t.errorf(offset+1, "%s", yamlpos.Message(err))
	}
	return f, nil
}

func unwrap(n ast.Node) ast.Node {
	for {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		default:
			return n
		}
	}
}

func nodeLine(n ast.Node, offset int) int {
	if n != nil {
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			return tk.Position.Line + offset
		}
	}
	return 0
}

// yamlEntry converts one item of the list.
func (t *TaskReader) yamlEntry(item ast.Node, offset int) (TaskEntry, error) {
	line := nodeLine(item, offset)
	e := TaskEntry{Index: t.n, Line: line}
	at := yamlpos.Path{t.n}
	var v any
	if err := yaml.NodeToValue(item, &v); err != nil {
		msg := yamlpos.Message(err)
		if tk, m, ok := yamlpos.ErrorToken(err); ok && tk != nil && tk.Position != nil {
			msg, line = m, tk.Position.Line+offset
		}
		if strings.Contains(msg, "alias") {
			msg += " (aliases refer to anchors of the same entry)"
		}
		return e, t.errorf(line, "%s: %s", at, msg)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return e, t.errorf(line, "%s: want a map with kind and def, got %s", at, typeName(v))
	}
	keys := yamlpos.Keys(item)
	keyLine := func(k string) int {
		for _, key := range keys {
			if key.Name == k {
				return key.Line + offset
			}
		}
		return line
	}
	bad := func(key, format string, args ...any) error {
		return t.errorf(keyLine(key), "%s: %s", at.Append(key), fmt.Sprintf(format, args...))
	}
	if err := checkKeys(slices.Collect(mapKeys(m)), func(k string) error { return bad(k, "%s", unknownField) }); err != nil {
		return e, err
	}
	kind, ok := m["kind"].(string)
	if !ok || kind == "" {
		return e, t.errorf(line, "%s: kind is required and must be a string", at)
	}
	e.Spec.Kind = kind
	if m["def"] == nil {
		return e, t.errorf(line, "%s: def is required", at)
	}
	e.Spec.Def = m["def"]
	for _, f := range intFields(&e.Spec) {
		if _, ok := m[f.key]; !ok {
			continue
		}
		n, err := yamlpos.ExactInt(yamlpos.Value(item, f.key))
		if err == nil {
			err = f.set(n)
		}
		if err != nil {
			return e, bad(f.key, "%v", err)
		}
	}
	return e, nil
}
