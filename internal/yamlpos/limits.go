package yamlpos

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/goccy/go-yaml/ast"
)

// Bounds on what Parse accepts. The YAML parser takes time quadratic or
// worse in the nesting depth, and a decoded alias shares its anchor's value,
// so a small file of nested aliases (a "billion laughs") is cheap to decode
// but explodes when the value is walked, encoded or hashed as a task def.
const (
	// MaxFlowDepth bounds the nesting of flow collections ([ and {).
	MaxFlowDepth = 100
	// MaxColumn bounds the column a block value starts at (indentation plus
	// leading "- ", "? " and ": " indicators): the block nesting depth.
	MaxColumn = 1000
	// MaxNodes bounds the nodes of the document with every alias expanded.
	MaxNodes = 4 << 20
)

// ErrTooComplex means a document is nested too deeply or expands to too
// many nodes through aliases.
var ErrTooComplex = errors.New("YAML document too complex")

// Limits bound what ParseLimits accepts. A zero field takes its default.
type Limits struct {
	// MaxDepth bounds the nesting of flow collections. Default MaxFlowDepth.
	MaxDepth int
	// MaxColumn bounds the column a block value starts at. Default MaxColumn.
	MaxColumn int
	// MaxNodes bounds the nodes with every alias expanded. Default MaxNodes.
	MaxNodes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = MaxFlowDepth
	}
	if l.MaxColumn <= 0 {
		l.MaxColumn = MaxColumn
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = MaxNodes
	}
	return l
}

// TooComplexError is ErrTooComplex at a line (1-based, in the parsed
// data), with the limit that was broken.
type TooComplexError struct {
	Line int
	What string
}

func (e *TooComplexError) Error() string {
	return fmt.Sprintf("%v: line %d: %s", ErrTooComplex, e.Line, e.What)
}

// Is makes errors.Is(err, ErrTooComplex) true.
func (e *TooComplexError) Is(target error) bool { return target == ErrTooComplex }

func tooComplex(line int, format string, args ...any) error {
	return &TooComplexError{Line: line, What: fmt.Sprintf(format, args...)}
}

// checkNesting scans data, before it is parsed, for flow collections nested
// deeper than MaxFlowDepth and block values starting beyond MaxColumn. The
// scan is approximate (a bracket inside a block scalar counts), erring on
// the side of refusing.
func checkNesting(data []byte, lim Limits) error {
	depth, line := 0, 0
	for len(data) > 0 {
		line++
		var l []byte
		l, data, _ = bytes.Cut(data, []byte("\n"))
		col := 0
		for col < len(l) && (l[col] == ' ' || l[col] == '\t' ||
			(col+1 < len(l) && (l[col] == '-' || l[col] == '?' || l[col] == ':') && l[col+1] == ' ')) {
			col++
		}
		if col > lim.MaxColumn {
			return tooComplex(line, "a value nested at column %d (at most %d)", col, lim.MaxColumn)
		}
		var quote byte
		for i, c := range l {
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
				goto next // a comment runs to the end of the line
			case c == '"' || (c == '\'' && (i == 0 || !isWordByte(l[i-1]))):
				quote = c
			case c == '[' || c == '{':
				if depth++; depth > lim.MaxDepth {
					return tooComplex(line, "collections nested more than %d deep", lim.MaxDepth)
				}
			case (c == ']' || c == '}') && depth > 0:
				depth--
			}
		}
	next:
	}
	return nil
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// checkExpansion counts the nodes of the parsed documents with every alias
// expanded, refusing more than MaxNodes. An anchor's size is known when an
// alias of it is met, since YAML defines anchors before their aliases.
func (f *File) checkExpansion(maxNodes int) error {
	sizes := map[string]int{}
	total := 0
	for _, doc := range f.ast.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		total += expandedSize(doc.Body, sizes, maxNodes)
		if total > maxNodes {
			line := 0
			if tk := doc.Body.GetToken(); tk != nil && tk.Position != nil {
				line = tk.Position.Line
			}
			return tooComplex(line, "the document expands to more than %d nodes through its aliases", maxNodes)
		}
	}
	return nil
}

// expandedSize returns the node count of n with aliases expanded, saturating
// just past maxNodes so the sums cannot overflow.
func expandedSize(n ast.Node, anchors map[string]int, maxNodes int) int {
	sum := func(nodes ...ast.Node) int {
		s := 1
		for _, c := range nodes {
			if c != nil {
				s = min(s+expandedSize(c, anchors, maxNodes), maxNodes+1)
			}
		}
		return s
	}
	switch n := n.(type) {
	case *ast.MappingNode:
		s := 1
		for _, mv := range n.Values {
			s = min(s+expandedSize(mv, anchors, maxNodes), maxNodes+1)
		}
		return s
	case *ast.MappingValueNode:
		return sum(n.Key, n.Value)
	case *ast.SequenceNode:
		s := 1
		for _, v := range n.Values {
			if v != nil {
				s = min(s+expandedSize(v, anchors, maxNodes), maxNodes+1)
			}
		}
		return s
	case *ast.AnchorNode:
		s := 1
		if n.Value != nil {
			s = expandedSize(n.Value, anchors, maxNodes)
		}
		if n.Name != nil {
			anchors[n.Name.String()] = s
		}
		return s
	case *ast.AliasNode:
		if n.Value != nil {
			if s, ok := anchors[n.Value.String()]; ok {
				return s
			}
		}
		return 1
	case *ast.TagNode:
		return sum(n.Value)
	}
	return 1
}

// MaxFileSize bounds a configuration file read by ReadFile: 16 MiB, far
// above any real config, far below what parsing it would cost in memory.
const MaxFileSize = 16 << 20

// ErrTooLarge means a file is over its size limit.
var ErrTooLarge = errors.New("file too large")

// ReadFile reads a configuration file of at most limit bytes
// (MaxFileSize when limit ≤ 0), refusing a larger one (ErrTooLarge)
// before reading it whole.
func ReadFile(path string, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = MaxFileSize
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s: more than %d bytes (the limit for a config file)", ErrTooLarge, path, limit)
	}
	return data, nil
}
