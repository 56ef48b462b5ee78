package mongostore

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// translateQuery turns a taskstate.Query into a MongoDB filter document.
// Fields pass through under their stored names (taskstate's query field
// names are the stored ones); every condition becomes {field: {op: value}},
// with several operators on one field merged into one operator document.
// A (field, operator) pair that repeats cannot share a document, so such a
// query becomes {$and: [...]}, one clause per condition. _id values are
// converted from hex to ObjectID, statuses to strings and maps to documents
// with sorted keys. The zero Query gives an empty filter. Errors wrap
// taskstate.ErrInvalidQuery.
func translateQuery(q taskstate.Query) (bson.D, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	type clause struct {
		field string
		op    string
		value any
	}
	clauses := make([]clause, 0, len(q.Conds))
	seen := make(map[[2]string]bool, len(q.Conds))
	repeated := false
	for _, c := range q.Conds {
		v, err := condValue(c)
		if err != nil {
			return nil, err
		}
		k := [2]string{c.Field, string(c.Op)}
		repeated = repeated || seen[k]
		seen[k] = true
		clauses = append(clauses, clause{field: c.Field, op: string(c.Op), value: v})
	}
	if repeated {
		and := make(bson.A, len(clauses))
		for i, c := range clauses {
			and[i] = bson.D{{Key: c.field, Value: bson.D{{Key: c.op, Value: c.value}}}}
		}
		return bson.D{{Key: "$and", Value: and}}, nil
	}
	filter := bson.D{}
	index := make(map[string]int, len(clauses))
	for _, c := range clauses {
		if i, ok := index[c.field]; ok {
			filter[i].Value = append(filter[i].Value.(bson.D), bson.E{Key: c.op, Value: c.value})
			continue
		}
		index[c.field] = len(filter)
		filter = append(filter, bson.E{Key: c.field, Value: bson.D{{Key: c.op, Value: c.value}}})
	}
	return filter, nil
}

// condValue converts the value of one validated condition to BSON.
func condValue(c taskstate.Cond) (any, error) {
	switch c.Op {
	case taskstate.OpExists:
		return c.Value, nil
	case taskstate.OpIn, taskstate.OpNin:
		list, ok := c.Value.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: %s.%s: want a list, got %T", taskstate.ErrInvalidQuery, c.Field, c.Op, c.Value)
		}
		out := make(bson.A, len(list))
		for i, v := range list {
			bv, err := fieldValue(c.Field, fmt.Sprintf("%s.%s[%d]", c.Field, c.Op, i), v)
			if err != nil {
				return nil, err
			}
			out[i] = bv
		}
		return out, nil
	}
	return fieldValue(c.Field, c.Field+"."+string(c.Op), c.Value)
}

// fieldValue converts one query value for field; path names it in errors.
func fieldValue(field, path string, v any) (any, error) {
	switch field {
	case taskstate.FieldID:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s: malformed id %v (want 24 hex digits)", taskstate.ErrInvalidQuery, path, v)
		}
		id, err := bson.ObjectIDFromHex(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: malformed id %q (want 24 hex digits)", taskstate.ErrInvalidQuery, path, s)
		}
		return id, nil
	case taskstate.FieldStatus:
		s, ok := taskstate.StatusValue(v)
		if !ok {
			return nil, fmt.Errorf("%w: %s: unknown status %v", taskstate.ErrInvalidQuery, path, v)
		}
		return s, nil
	}
	return toBSON(v), nil
}
