package deploy

// PromQL: just enough to find the selectors of a dashboard query.

import (
	"fmt"
	"strings"
)

// selector is one vector selector in a PromQL expression.
type selector struct {
	Metric   string
	Matchers []matcher
}

type matcher struct {
	Label, Op, Value string
}

// promQuery is what a query refers to.
type promQuery struct {
	Selectors []selector
	Grouping  []string // labels of by/without/on/ignoring/group_left/group_right
}

var (
	promAggregators = set("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
		"bottomk", "topk", "quantile", "limitk", "limit_ratio")
	promGroupingKeywords = set("by", "without", "on", "ignoring", "group_left", "group_right")
	promKeywords         = set("and", "or", "unless", "bool", "offset", "atan2", "inf", "nan")
)

func set(items ...string) map[string]bool {
	m := map[string]bool{}
	for _, s := range items {
		m[s] = true
	}
	return m
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// parsePromQL extracts the selectors and grouping labels of expr. It
// understands the subset a dashboard uses: selectors with matchers,
// functions, aggregations with by/without, binary operators, range and
// subquery brackets, Grafana $variables and string literals.
func parsePromQL(expr string) (promQuery, error) {
	var q promQuery
	s := expr
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	readIdent := func() string {
		j := i
		for i < len(s) && isIdent(s[i]) {
			i++
		}
		return s[j:i]
	}
	readString := func() (string, error) {
		quote := s[i]
		i++
		var b strings.Builder
		for i < len(s) && s[i] != quote {
			if s[i] == '\\' && quote != '`' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
			i++
		}
		if i >= len(s) {
			return "", fmt.Errorf("unterminated string in %q", expr)
		}
		i++
		return b.String(), nil
	}
	readMatchers := func() ([]matcher, error) {
		i++ // {
		var ms []matcher
		for {
			skipSpace()
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated {} in %q", expr)
			}
			if s[i] == '}' {
				i++
				return ms, nil
			}
			if s[i] == ',' {
				i++
				continue
			}
			if !isIdentStart(s[i]) {
				return nil, fmt.Errorf("bad matcher at %q in %q", s[i:], expr)
			}
			m := matcher{Label: readIdent()}
			skipSpace()
			for _, op := range []string{"=~", "!~", "!=", "="} {
				if strings.HasPrefix(s[i:], op) {
					m.Op = op
					i += len(op)
					break
				}
			}
			if m.Op == "" {
				return nil, fmt.Errorf("bad matcher operator at %q in %q", s[i:], expr)
			}
			skipSpace()
			if i >= len(s) || (s[i] != '"' && s[i] != '\'' && s[i] != '`') {
				return nil, fmt.Errorf("matcher %s without a string in %q", m.Label, expr)
			}
			v, err := readString()
			if err != nil {
				return nil, err
			}
			m.Value = v
			ms = append(ms, m)
		}
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			if _, err := readString(); err != nil {
				return q, err
			}
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				for i < len(s) && s[i] != '}' {
					i++
				}
				i++
			} else {
				readIdent()
			}
		case c == '[':
			for i < len(s) && s[i] != ']' {
				i++
			}
			i++
		case c == '{':
			ms, err := readMatchers()
			if err != nil {
				return q, err
			}
			// A selector without a metric name ({job="x"}) is not used by
			// the dashboard; name it "" so a check reports it.
			q.Selectors = append(q.Selectors, selector{Matchers: ms})
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			id := readIdent()
			skipSpace()
			next := byte(0)
			if i < len(s) {
				next = s[i]
			}
			switch {
			case promGroupingKeywords[id]:
				if next != '(' {
					continue
				}
				end := strings.IndexByte(s[i:], ')')
				if end < 0 {
					return q, fmt.Errorf("unterminated %s (...) in %q", id, expr)
				}
				for _, l := range strings.Split(s[i+1:i+end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						q.Grouping = append(q.Grouping, l)
					}
				}
				i += end + 1
			case promAggregators[id], promKeywords[strings.ToLower(id)], next == '(':
				// an aggregation, a keyword or a function call
			default:
				sel := selector{Metric: id}
				if next == '{' {
					ms, err := readMatchers()
					if err != nil {
						return q, err
					}
					sel.Matchers = ms
				}
				q.Selectors = append(q.Selectors, sel)
			}
		default:
			i++
		}
	}
	return q, nil
}
