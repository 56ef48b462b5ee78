package yamlpos

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Path is the path of a value in a document: string keys and int indexes.
type Path []any

// String renders the path for messages: generators[0].step.
func (p Path) String() string {
	var b strings.Builder
	for _, e := range p {
		switch e := e.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(e) + "]")
		case string:
			if b.Len() > 0 {
				b.WriteString(".")
			}
			b.WriteString(e)
		}
	}
	return b.String()
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// yamlPath renders the path as a goccy YAML path: $.a.b[0].'c.d'.
func (p Path) yamlPath() string {
	var b strings.Builder
	b.WriteString("$")
	for _, e := range p {
		switch e := e.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(e) + "]")
		case string:
			if plainKey.MatchString(e) {
				b.WriteString("." + e)
			} else {
				b.WriteString(".'" + strings.ReplaceAll(e, "'", "''") + "'")
			}
		}
	}
	return b.String()
}

// Append returns a new path: p followed by elems. It never writes into
// p's backing array, so paths built from one prefix stay apart.
func (p Path) Append(elems ...any) Path {
	return append(slices.Clip(p), elems...)
}

// File is a parsed YAML file. The zero File and a nil *File know no
// positions: Line returns 0 and Node nil.
type File struct {
	ast *ast.File
}

// Parse parses data for positions only; decode the values with yaml once
// Parse has accepted them. It refuses (ErrTooComplex) documents nested
// deeper than MaxFlowDepth or MaxColumn, checked before parsing, and
// documents whose aliases expand to more than MaxNodes.
func Parse(data []byte) (*File, error) { return ParseLimits(data, Limits{}) }

// ParseLimits is Parse with other limits than the defaults.
func ParseLimits(data []byte, lim Limits) (*File, error) {
	lim = lim.withDefaults()
	if err := checkNesting(data, lim); err != nil {
		return nil, err
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, err
	}
	file := &File{ast: f}
	if err := file.checkExpansion(lim.MaxNodes); err != nil {
		return nil, err
	}
	return file, nil
}

// Body returns the first document's body, or nil.
func (f *File) Body() ast.Node {
	if f == nil || f.ast == nil || len(f.ast.Docs) == 0 || f.ast.Docs[0] == nil {
		return nil
	}
	return f.ast.Docs[0].Body
}

// Node returns the node of the value at p, or nil.
func (f *File) Node(p Path) ast.Node {
	if f == nil || f.ast == nil {
		return nil
	}
	yp, err := yaml.PathString(p.yamlPath())
	if err != nil {
		return nil
	}
	n, err := yp.FilterFile(f.ast)
	if err != nil {
		return nil
	}
	return n
}

// Line returns the 1-based line of the value at p, or of its closest
// ancestor present in the file; 0 when unknown.
func (f *File) Line(p Path) int {
	for i := len(p); i > 0; i-- {
		if n := f.Node(p[:i]); n != nil {
			if tk := n.GetToken(); tk != nil && tk.Position != nil {
				return tk.Position.Line
			}
		}
	}
	return 0
}

// PathOf returns the path of the value or key holding tk.
func (f *File) PathOf(tk *token.Token) (Path, bool) {
	if f == nil || f.ast == nil || tk == nil {
		return nil, false
	}
	for _, doc := range f.ast.Docs {
		if p, ok := findToken(doc.Body, tk, nil); ok {
			return p, true
		}
	}
	return nil, false
}

func findToken(n ast.Node, tk *token.Token, path Path) (Path, bool) {
	if n == nil {
		return nil, false
	}
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, mv := range n.Values {
			if p, ok := findToken(mv, tk, path); ok {
				return p, true
			}
		}
		if samePos(n.GetToken(), tk) {
			return path, true
		}
	case *ast.MappingValueNode:
		key := n.Key.GetToken()
		if key == nil {
			return nil, false
		}
		p := path.Append(key.Value)
		if samePos(key, tk) {
			return p, true
		}
		return findToken(n.Value, tk, p)
	case *ast.SequenceNode:
		for i, v := range n.Values {
			if p, ok := findToken(v, tk, path.Append(i)); ok {
				return p, true
			}
		}
		if samePos(n.GetToken(), tk) {
			return path, true
		}
	case *ast.AnchorNode:
		return findToken(n.Value, tk, path)
	case *ast.TagNode:
		return findToken(n.Value, tk, path)
	default:
		if samePos(n.GetToken(), tk) {
			return path, true
		}
	}
	return nil, false
}

func samePos(a, b *token.Token) bool {
	return a != nil && b != nil && a.Position != nil && b.Position != nil &&
		a.Position.Line == b.Position.Line && a.Position.Column == b.Position.Column
}

// Key is a key of a mapping and the line it is on.
type Key struct {
	Name string
	Line int
}

// Keys returns the keys of the mapping n (through anchors and tags), in
// order, leaving out merge keys ("<<"). It returns nil when n is not a
// mapping.
func Keys(n ast.Node) []Key {
	var keys []Key
	for _, mv := range mappingValues(n) {
		tk := mv.Key.GetToken()
		if tk == nil || tk.Value == "<<" {
			continue
		}
		k := Key{Name: tk.Value}
		if tk.Position != nil {
			k.Line = tk.Position.Line
		}
		keys = append(keys, k)
	}
	return keys
}

func mappingValues(n ast.Node) []*ast.MappingValueNode {
	switch n := n.(type) {
	case *ast.MappingNode:
		return n.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{n}
	case *ast.AnchorNode:
		return mappingValues(n.Value)
	case *ast.TagNode:
		return mappingValues(n.Value)
	}
	return nil
}

// Message returns the message of a goccy YAML error without colours or
// source excerpt: "[3:1] unknown field "x"".
func Message(err error) string { return yaml.FormatError(err, false, false) }

// ErrorToken returns the token a goccy YAML error points at and the error's
// bare message (without position), or false for other errors.
func ErrorToken(err error) (*token.Token, string, bool) {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return nil, "", false
	}
	return ye.GetToken(), ye.GetMessage(), true
}

// Where renders a position for a message: "file:line", or "file" when the
// line is unknown (0).
func Where(file string, line int) string {
	if line <= 0 {
		return file
	}
	return file + ":" + strconv.Itoa(line)
}

// ParsePath parses a path as String renders it: "generators[0].step". A key
// holding a '.' or '[' does not round-trip.
func ParsePath(s string) Path {
	var p Path
	for _, part := range strings.Split(s, ".") {
		key, idx, _ := strings.Cut(part, "[")
		if key != "" {
			p = append(p, key)
		}
		for idx != "" {
			n, rest, _ := strings.Cut(idx, "]")
			i, err := strconv.Atoi(n)
			if err != nil {
				p = append(p, "["+idx)
				break
			}
			p = append(p, i)
			idx = strings.TrimPrefix(rest, "[")
		}
	}
	return p
}

// Value returns the value node of key in the mapping n (through anchors
// and tags), or nil.
func Value(n ast.Node, key string) ast.Node {
	for _, mv := range mappingValues(n) {
		if tk := mv.Key.GetToken(); tk != nil && tk.Value == key {
			return mv.Value
		}
	}
	return nil
}
