package sqlitestore

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// where translates a validated query into an SQL condition over tasks and
// its arguments. The pool condition is added by the caller.
func where(q taskstate.Query) (string, []any, error) {
	var (
		parts []string
		args  []any
	)
	for _, c := range q.Conds {
		sql, a, err := cond(c)
		if err != nil {
			return "", nil, err
		}
		parts = append(parts, sql)
		args = append(args, a...)
	}
	if len(parts) == 0 {
		return "1", nil, nil
	}
	return strings.Join(parts, " AND "), args, nil
}

// column maps a top-level query field to its column.
var column = map[string]string{
	taskstate.FieldID:       "id",
	taskstate.FieldStatus:   "status",
	taskstate.FieldKind:     "kind",
	taskstate.FieldPriority: "priority",
	taskstate.FieldAttempts: "attempts",
	taskstate.FieldOwner:    "lease_owner",
}

func jsonPath(field string) string {
	parts := strings.Split(strings.TrimPrefix(field, "filter."), ".")
	var b strings.Builder
	b.WriteString("$")
	for _, p := range parts {
		b.WriteString(`."`)
		b.WriteString(p)
		b.WriteString(`"`)
	}
	return b.String()
}

func cond(c taskstate.Cond) (string, []any, error) {
	if col, ok := column[c.Field]; ok {
		return colCond(col, c)
	}
	if c.Field == taskstate.FieldFilter {
		return wholeFilterCond(c)
	}
	return pathCond(jsonPath(c.Field), c)
}

// colCond handles a plain column. Only lease_owner can be NULL.
func colCond(col string, c taskstate.Cond) (string, []any, error) {
	val := func(v any) any {
		if s, ok := taskstate.StatusValue(v); ok {
			return s
		}
		if f, ok := taskstate.AsNumber(v); ok {
			return f
		}
		return v
	}
	switch c.Op {
	case taskstate.OpEq:
		if c.Value == nil {
			return col + " IS NULL", nil, nil
		}
		if st, ok := taskstate.StatusValue(c.Value); ok && col == "status" && taskstate.Status(st).Valid() {
			// A literal, not a parameter: SQLite picks a partial index
			// (tasks_waiting, tasks_running, ...) only for a literal.
			return "status = '" + st + "'", nil, nil
		}
		return col + " = ?", []any{val(c.Value)}, nil
	case taskstate.OpNe:
		return col + " IS NOT ?", []any{val(c.Value)}, nil
	case taskstate.OpIn, taskstate.OpNin:
		list := c.Value.([]any)
		var args []any
		hasNull := false
		for _, v := range list {
			if v == nil {
				hasNull = true
				continue
			}
			args = append(args, val(v))
		}
		in := "0"
		if len(args) > 0 {
			in = col + " IN (" + placeholders(len(args)) + ")"
		}
		if hasNull {
			in = "(" + in + " OR " + col + " IS NULL)"
		}
		if c.Op == taskstate.OpNin {
			return "NOT " + in, args, nil
		}
		return in, args, nil
	case taskstate.OpExists:
		if c.Value.(bool) {
			return col + " IS NOT NULL", nil, nil
		}
		return col + " IS NULL", nil, nil
	default:
		return col + " " + cmpOp(c.Op) + " ?", []any{val(c.Value)}, nil
	}
}

func cmpOp(op taskstate.Op) string {
	switch op {
	case taskstate.OpGt:
		return ">"
	case taskstate.OpGte:
		return ">="
	case taskstate.OpLt:
		return "<"
	default:
		return "<="
	}
}

// typed returns a condition that the JSON value at path has the type of v,
// and v as an SQL argument.
func typed(path string, v any) (guard string, arg any, err error) {
	jt := "json_type(filter, '" + path + "')"
	switch x := v.(type) {
	case bool:
		if x {
			return jt + " = 'true'", nil, nil
		}
		return jt + " = 'false'", nil, nil
	case string:
		return jt + " = 'text'", x, nil
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return "", nil, err
		}
		return jt + " IN ('object','array')", string(b), nil
	}
	if f, ok := taskstate.AsNumber(v); ok {
		return jt + " IN ('integer','real')", f, nil
	}
	return "", nil, fmt.Errorf("%w: unsupported value type %T", taskstate.ErrInvalidQuery, v)
}

// eqExpr is "the value at path equals v", MongoDB style (null matches a
// missing field too).
func eqExpr(path string, v any) (string, []any, error) {
	if v == nil {
		return "json_type(filter, '" + path + "') IS NULL OR json_type(filter, '" + path + "') = 'null'", nil, nil
	}
	guard, arg, err := typed(path, v)
	if err != nil {
		return "", nil, err
	}
	if arg == nil { // booleans: the guard is the whole test
		return guard, nil, nil
	}
	return guard + " AND json_extract(filter, '" + path + "') = ?", []any{arg}, nil
}

func pathCond(path string, c taskstate.Cond) (string, []any, error) {
	switch c.Op {
	case taskstate.OpEq:
		s, a, err := eqExpr(path, c.Value)
		return "(" + s + ")", a, err
	case taskstate.OpNe:
		s, a, err := eqExpr(path, c.Value)
		return "NOT (" + s + ")", a, err
	case taskstate.OpIn, taskstate.OpNin:
		var (
			parts []string
			args  []any
		)
		for _, v := range c.Value.([]any) {
			s, a, err := eqExpr(path, v)
			if err != nil {
				return "", nil, err
			}
			parts = append(parts, "("+s+")")
			args = append(args, a...)
		}
		in := "0"
		if len(parts) > 0 {
			in = "(" + strings.Join(parts, " OR ") + ")"
		}
		if c.Op == taskstate.OpNin {
			return "NOT " + in, args, nil
		}
		return in, args, nil
	case taskstate.OpExists:
		if c.Value.(bool) {
			return "json_type(filter, '" + path + "') IS NOT NULL", nil, nil
		}
		return "json_type(filter, '" + path + "') IS NULL", nil, nil
	default:
		guard, arg, err := typed(path, c.Value)
		if err != nil {
			return "", nil, err
		}
		if arg == nil {
			return "", nil, fmt.Errorf("%w: %s.%s: cannot order booleans", taskstate.ErrInvalidQuery, c.Field, c.Op)
		}
		return "(" + guard + " AND json_extract(filter, '" + path + "') " + cmpOp(c.Op) + " ?)", []any{arg}, nil
	}
}

// wholeFilterCond compares the whole def document (Qlib's {"filter": t}).
func wholeFilterCond(c taskstate.Cond) (string, []any, error) {
	enc := func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}
	switch c.Op {
	case taskstate.OpEq, taskstate.OpNe:
		s, err := enc(c.Value)
		if err != nil {
			return "", nil, fmt.Errorf("%w: filter: %w", taskstate.ErrInvalidQuery, err)
		}
		if c.Op == taskstate.OpEq {
			return "filter = ?", []any{s}, nil
		}
		return "filter <> ?", []any{s}, nil
	case taskstate.OpExists:
		if c.Value.(bool) {
			return "1", nil, nil
		}
		return "0", nil, nil
	}
	return "", nil, fmt.Errorf("%w: filter: operator %s is not supported on the whole def", taskstate.ErrInvalidQuery, c.Op)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
