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
	taskstate.FieldSeq:      "seq",
}

// jsonAt is where a filter path points: the JSON document doc (an SQL
// expression) and a JSON path into it.
type jsonAt struct{ doc, path string }

// locate maps a filter path to its JSON location. Up to the first numeric
// component it is a plain path into the filter column, so the common case
// stays json_extract(filter, '$."a"."b"'). A numeric component is an array
// index when the value there is an array and an object key otherwise, as
// in MongoDB; each one binds the value so far in a subquery, which keeps
// the SQL linear in the number of components.
func locate(field string) jsonAt {
	at := jsonAt{doc: "filter", path: "$"}
	for _, p := range strings.Split(strings.TrimPrefix(field, "filter."), ".") {
		if !arrayIndex(p) {
			at.path += `."` + p + `"`
			continue
		}
		v := "filter"
		if at.doc != "filter" || at.path != "$" {
			v = at.doc + " -> '" + at.path + "'"
		}
		at = jsonAt{doc: "(SELECT coalesce(v -> '$[" + p + "]', v -> '$.\"" + p + "\"') FROM (SELECT " + v + " AS v))", path: "$"}
	}
	return at
}

// arrayIndex reports whether a path component is one MongoDB reads as an
// array index: a non-negative integer without leading zeros.
func arrayIndex(p string) bool {
	if p == "" || len(p) > 9 || (p[0] == '0' && len(p) > 1) {
		return false
	}
	return strings.Trim(p, "0123456789") == ""
}

func cond(c taskstate.Cond) (string, []any, error) {
	if col, ok := column[c.Field]; ok {
		return colCond(col, c)
	}
	if c.Field == taskstate.FieldFilter {
		return wholeFilterCond(c)
	}
	return pathCond(locate(c.Field), c)
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
		if st, ok := oneStatus(c); ok && col == "status" && c.Op == taskstate.OpIn {
			return "status = '" + st + "'", nil, nil // a literal, as for OpEq
		}
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

// value is one JSON value as SQL sees it: its json_type name (NULL when
// missing) and its SQL value (JSON text for objects and arrays).
type value struct{ typ, val string }

// typed returns a condition that x has the type of v, and v as an SQL
// argument.
func typed(x value, v any) (guard string, arg any, err error) {
	switch v := v.(type) {
	case bool:
		if v {
			return x.typ + " = 'true'", nil, nil
		}
		return x.typ + " = 'false'", nil, nil
	case string:
		return x.typ + " = 'text'", v, nil
	case map[string]any, []any:
		b, err := json.Marshal(v)
		if err != nil {
			return "", nil, err
		}
		return x.typ + " IN ('object','array')", string(b), nil
	}
	if f, ok := taskstate.AsNumber(v); ok {
		return x.typ + " IN ('integer','real')", f, nil
	}
	return "", nil, fmt.Errorf("%w: unsupported value type %T", taskstate.ErrInvalidQuery, v)
}

// pred is "x op v", MongoDB style: only values of one type compare, and
// null equals a missing field too.
func pred(x value, op taskstate.Op, v any) (string, []any, error) {
	if v == nil && op == taskstate.OpEq {
		return "(" + x.typ + " IS NULL OR " + x.typ + " = 'null')", nil, nil
	}
	guard, arg, err := typed(x, v)
	if err != nil {
		return "", nil, err
	}
	if arg == nil { // booleans: the guard is the whole test (pathCond refuses to order them)
		return guard, nil, nil
	}
	sqlOp := "="
	if op != taskstate.OpEq {
		sqlOp = cmpOp(op)
	}
	return "(" + guard + " AND " + x.val + " " + sqlOp + " ?)", []any{arg}, nil
}

// anyPred is the disjunction of pred(x, op, v) over vals.
func anyPred(x value, op taskstate.Op, vals []any) (string, []any, error) {
	var (
		parts []string
		args  []any
	)
	for _, v := range vals {
		s, a, err := pred(x, op, v)
		if err != nil {
			return "", nil, err
		}
		parts = append(parts, s)
		args = append(args, a...)
	}
	if len(parts) == 0 {
		return "0", nil, nil
	}
	return "(" + strings.Join(parts, " OR ") + ")", args, nil
}

// matches is MongoDB's rule for a path: the value there satisfies op for
// one of vals, or it is an array and one of its elements does.
func matches(at jsonAt, op taskstate.Op, vals []any) (string, []any, error) {
	loc := at.doc + ", '" + at.path + "'"
	whole, args, err := anyPred(value{typ: "json_type(" + loc + ")", val: "json_extract(" + loc + ")"}, op, vals)
	if err != nil {
		return "", nil, err
	}
	elem, elemArgs, err := anyPred(value{typ: "e.type", val: "e.value"}, op, vals)
	if err != nil {
		return "", nil, err
	}
	return "(" + whole + " OR (json_type(" + loc + ") = 'array' AND EXISTS (SELECT 1 FROM json_each(" + loc + ") AS e WHERE " + elem + ")))",
		append(args, elemArgs...), nil
}

func pathCond(at jsonAt, c taskstate.Cond) (string, []any, error) {
	var (
		s    string
		args []any
		err  error
	)
	switch c.Op {
	case taskstate.OpExists:
		s = "json_type(" + at.doc + ", '" + at.path + "') IS NOT NULL"
		if !c.Value.(bool) {
			s = "json_type(" + at.doc + ", '" + at.path + "') IS NULL"
		}
		return s, nil, nil
	case taskstate.OpIn, taskstate.OpNin:
		s, args, err = matches(at, taskstate.OpEq, c.Value.([]any))
	case taskstate.OpEq, taskstate.OpNe:
		s, args, err = matches(at, taskstate.OpEq, []any{c.Value})
	default:
		if _, ok := c.Value.(bool); ok {
			return "", nil, fmt.Errorf("%w: %s.%s: cannot order booleans", taskstate.ErrInvalidQuery, c.Field, c.Op)
		}
		s, args, err = matches(at, c.Op, []any{c.Value})
	}
	if err != nil {
		return "", nil, err
	}
	if c.Op == taskstate.OpNe || c.Op == taskstate.OpNin {
		// coalesce: a missing field makes the type guards NULL, not false.
		return "NOT coalesce(" + s + ", 0)", args, nil
	}
	return s, args, nil
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
