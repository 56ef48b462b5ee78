package taskstate

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Op is a query operator. The names are MongoDB's.
type Op string

// The operators a Query supports.
const (
	OpEq     Op = "$eq"
	OpNe     Op = "$ne"
	OpIn     Op = "$in"
	OpNin    Op = "$nin"
	OpExists Op = "$exists"
	OpGt     Op = "$gt"
	OpGte    Op = "$gte"
	OpLt     Op = "$lt"
	OpLte    Op = "$lte"
)

func (o Op) valid() bool {
	switch o {
	case OpEq, OpNe, OpIn, OpNin, OpExists, OpGt, OpGte, OpLt, OpLte:
		return true
	}
	return false
}

// Query field names outside the filter document.
const (
	FieldID          = "_id"
	FieldStatus      = "status"
	FieldKind        = "kind"
	FieldPriority    = "priority"
	FieldAttempts    = "attempts"
	FieldOwner       = "lease.owner"
	FieldFilter      = "filter"
	FieldSeq         = "seq" // creation order: keyset pagination over Query's order
	filterPathPrefix = "filter."
)

// Cond is one condition: Field Op Value. Field is one of the Field
// constants or a dotted path into the def, such as "filter.model.class".
type Cond struct {
	Field string
	Op    Op
	Value any // for $in and $nin a []any; for $exists a bool
}

// Query is a backend-neutral filter: the conjunction of its conditions. The
// zero Query matches every task. MongoDB receives it as a filter document;
// SQLite translates it to SQL over json_extract.
type Query struct {
	Conds []Cond
}

// IsEmpty reports whether q matches every task.
func (q Query) IsEmpty() bool { return len(q.Conds) == 0 }

// Where returns q with one more condition. It does not validate; the
// Manager validates every query before a backend sees it.
func (q Query) Where(field string, op Op, value any) Query {
	conds := append(append([]Cond(nil), q.Conds...), Cond{Field: field, Op: op, Value: value})
	return Query{Conds: conds}
}

// ByIDs returns a query matching the given ids.
func ByIDs(ids ...string) Query {
	vals := make([]any, len(ids))
	for i, id := range ids {
		vals[i] = id
	}
	return Query{}.Where(FieldID, OpIn, vals)
}

// ByStatus returns a query matching the given statuses.
func ByStatus(ss ...Status) Query {
	vals := make([]any, len(ss))
	for i, s := range ss {
		vals[i] = string(s)
	}
	return Query{}.Where(FieldStatus, OpIn, vals)
}

// Field reports whether the query constrains field (exactly that name).
func (q Query) Field(field string) bool {
	for _, c := range q.Conds {
		if c.Field == field {
			return true
		}
	}
	return false
}

// ParseQueryJSON parses a MongoDB-style JSON filter, such as
// {"status": "waiting", "filter.model.class": {"$in": ["A", "B"]}}.
func ParseQueryJSON(s string) (Query, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Query{}, nil
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&m); err != nil {
		return Query{}, fmt.Errorf("%w: not a JSON object: %v", ErrInvalidQuery, err)
	}
	return ParseQuery(m)
}

// ParseQuery turns a MongoDB-style filter document into a Query and
// validates it. Top-level keys are fields; a value that is a map of
// $-operators applies them, any other value is an equality. Errors wrap
// ErrInvalidQuery and name the offending dotted path.
func ParseQuery(m map[string]any) (Query, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var q Query
	for _, field := range keys {
		v := m[field]
		if ops, ok := v.(map[string]any); ok && hasOperator(ops) {
			opKeys := make([]string, 0, len(ops))
			for k := range ops {
				opKeys = append(opKeys, k)
			}
			sort.Strings(opKeys)
			for _, op := range opKeys {
				if !strings.HasPrefix(op, "$") {
					return Query{}, fmt.Errorf("%w: %s: mixes operators and the plain key %q", ErrInvalidQuery, field, op)
				}
				q.Conds = append(q.Conds, Cond{Field: field, Op: Op(op), Value: ops[op]})
			}
			continue
		}
		q.Conds = append(q.Conds, Cond{Field: field, Op: OpEq, Value: v})
	}
	return q, q.Validate()
}

func hasOperator(m map[string]any) bool {
	for k := range m {
		if strings.HasPrefix(k, "$") {
			return true
		}
	}
	return false
}

// Validate checks every condition: a known field, a known operator and a
// value of the right shape (hex ids, known statuses, numbers for priority
// and attempts, lists for $in/$nin, a bool for $exists).
func (q Query) Validate() error {
	for _, c := range q.Conds {
		if err := c.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (c Cond) validate() error {
	path := c.Field + "." + string(c.Op)
	if !c.Op.valid() {
		return fmt.Errorf("%w: %s: unknown operator %q (supported: $eq $ne $in $nin $exists $gt $gte $lt $lte)", ErrInvalidQuery, c.Field, c.Op)
	}
	switch {
	case c.Field == FieldID, c.Field == FieldStatus, c.Field == FieldKind, c.Field == FieldPriority,
		c.Field == FieldAttempts, c.Field == FieldOwner, c.Field == FieldFilter, c.Field == FieldSeq:
	case strings.HasPrefix(c.Field, filterPathPrefix):
		for _, part := range strings.Split(c.Field[len(filterPathPrefix):], ".") {
			if part == "" || strings.ContainsAny(part, `$"'\[]`) {
				return fmt.Errorf("%w: %s: bad path element %q", ErrInvalidQuery, c.Field, part)
			}
		}
	default:
		return fmt.Errorf("%w: %s: unknown field (use _id, status, kind, priority, attempts, lease.owner, seq or filter.<path>)", ErrInvalidQuery, c.Field)
	}
	if c.Op == OpExists {
		if _, ok := c.Value.(bool); !ok {
			return fmt.Errorf("%w: %s: want true or false, got %T", ErrInvalidQuery, path, c.Value)
		}
		return nil
	}
	vals := []any{c.Value}
	if c.Op == OpIn || c.Op == OpNin {
		list, ok := c.Value.([]any)
		if !ok {
			return fmt.Errorf("%w: %s: want a list, got %T", ErrInvalidQuery, path, c.Value)
		}
		vals = list
	}
	for i, v := range vals {
		p := path
		if c.Op == OpIn || c.Op == OpNin {
			p = fmt.Sprintf("%s[%d]", path, i)
		}
		if err := checkValue(c.Field, p, v); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(field, path string, v any) error {
	switch field {
	case FieldID:
		s, ok := v.(string)
		if !ok || !ValidID(s) {
			return fmt.Errorf("%w: %s: malformed id %v (want 24 hex digits)", ErrInvalidQuery, path, v)
		}
	case FieldStatus:
		s, ok := v.(string)
		if !ok {
			if st, isStatus := v.(Status); isStatus {
				s, ok = string(st), true
			}
		}
		if !ok || !Status(s).Valid() {
			return fmt.Errorf("%w: %s: unknown status %v", ErrInvalidQuery, path, v)
		}
	case FieldKind, FieldOwner:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%w: %s: want a string, got %T", ErrInvalidQuery, path, v)
		}
	case FieldPriority, FieldAttempts, FieldSeq:
		if _, ok := AsNumber(v); !ok {
			return fmt.Errorf("%w: %s: want a number, got %T", ErrInvalidQuery, path, v)
		}
	default:
		switch v.(type) {
		case nil, bool, string, float64, float32, int, int32, int64, map[string]any, []any:
		default:
			return fmt.Errorf("%w: %s: unsupported value type %T", ErrInvalidQuery, path, v)
		}
	}
	return nil
}

// AsNumber converts the numeric types a query value may hold to float64.
func AsNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// StatusValue returns v as a status string when v is a Status or a string.
func StatusValue(v any) (string, bool) {
	switch x := v.(type) {
	case Status:
		return string(x), true
	case string:
		return x, true
	}
	return "", false
}
