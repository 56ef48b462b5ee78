package taskstate

import (
	"context"
	"fmt"
	"strings"
)

// PathIndexParams are the arguments of Store.CreatePathIndex.
type PathIndexParams struct {
	Pool string
	// Field is the indexed path as a query names it: "filter.model.class".
	Field string
}

// ValidIndexPath reports whether field is a path an index can be declared
// on: "filter." and object keys, none of them an array index (a number).
// Errors wrap ErrInvalidQuery and name the path.
func ValidIndexPath(field string) error {
	if !strings.HasPrefix(field, filterPathPrefix) {
		return fmt.Errorf("%w: index path %q: want a dotted path into the def, such as model.class", ErrInvalidQuery, field)
	}
	if err := (Cond{Field: field, Op: OpExists, Value: true}).validate(); err != nil {
		return err
	}
	for _, part := range strings.Split(field[len(filterPathPrefix):], ".") {
		if strings.Trim(part, "0123456789") == "" {
			return fmt.Errorf("%w: index path %q: element %q is a number; index a path of object keys", ErrInvalidQuery, field, part)
		}
	}
	return nil
}

// indexField turns a path as a user writes it (model.class, or
// filter.model.class) into the query field.
func indexField(path string) string {
	if strings.HasPrefix(path, filterPathPrefix) {
		return path
	}
	return filterPathPrefix + path
}

// CreateIndex declares an index on a dotted path of the pool's defs, such
// as "model.class", as MongoDB's createIndex does: equality and $in
// queries on that path (Stat, Wait, Query, admin changes) then read the
// index instead of every task. Indexes are per pool and declared, not
// automatic, so a pool pays for the paths it is queried by and no others.
// Declaring an existing index does nothing.
func (m *Manager) CreateIndex(ctx context.Context, path string) error {
	field := indexField(path)
	if err := ValidIndexPath(field); err != nil {
		return err
	}
	return m.store.CreatePathIndex(ctx, PathIndexParams{Pool: m.pool, Field: field})
}

// Indexes lists the paths declared with CreateIndex, sorted, as query
// fields ("filter.model.class").
func (m *Manager) Indexes(ctx context.Context) ([]string, error) {
	return m.store.PathIndexes(ctx, m.pool)
}
