package yamlpos

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// integerLit is an integer written in decimal, as JSON allows.
var integerLit = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// IsIntegerLiteral reports whether lit is a decimal integer (JSON's
// grammar): no fraction, no exponent.
func IsIntegerLiteral(lit string) bool { return integerLit.MatchString(lit) }

// NotAnInteger is the error of a value that is not an integer (1.5, 1e3,
// .inf, .nan, a string).
func NotAnInteger(lit string) error {
	return fmt.Errorf("want an integer, got %s", shorten(lit))
}

// OutOfRange is the error of an integer that does not fit 64 bits.
func OutOfRange(lit string) error {
	return fmt.Errorf("want an integer from %d to %d, got %s", math.MinInt64, math.MaxInt64, shorten(lit))
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// ExactInt returns the integer node n holds, exactly: a float (even 2.0),
// .inf, .nan, a string or an integer beyond 64 bits is an error, never a
// rounded or truncated value.
func ExactInt(n ast.Node) (int64, error) {
	lit := "nothing"
	if n != nil {
		lit = n.String()
	}
	for {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
			continue
		case *ast.TagNode:
			n = x.Value
			continue
		}
		break
	}
	in, ok := n.(*ast.IntegerNode)
	if !ok {
		if IsIntegerLiteral(strings.TrimPrefix(lit, "+")) {
			return 0, OutOfRange(lit) // too large for the parser's integers
		}
		return 0, NotAnInteger(lit)
	}
	switch v := in.Value.(type) {
	case int64:
		return v, nil
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), nil
		}
	}
	return 0, OutOfRange(lit)
}
