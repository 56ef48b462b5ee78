package sqlitestore

import (
	"context"
	"database/sql"
	"strings"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// countSQL(k) adds to the counts of k (pool, status) pairs in one
// statement; its arguments are pool, status, n for each pair.
func countSQL(k int) string { return countSQLs[k] }

var countSQLs = func() []string {
	out := make([]string, len(taskstate.Statuses)+1)
	for k := 1; k < len(out); k++ {
		out[k] = `INSERT INTO pool_counts (pool, status, n) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", k), ", ") +
			` ON CONFLICT (pool, status) DO UPDATE SET n = n + excluded.n`
	}
	return out
}()

// counts accumulates the changes a write makes to pool_counts, applied
// with addCounts in the write's transaction.
type counts map[taskstate.Status]int

func (c counts) move(from, to taskstate.Status, n int) {
	if from != to && n != 0 {
		c[from] -= n
		c[to] += n
	}
}

// addCounts applies c to the pool's counters inside tx, in one statement.
func (s *Store) addCounts(ctx context.Context, tx *sql.Tx, pool string, c counts) error {
	args := make([]any, 0, 3*len(c))
	for _, status := range taskstate.Statuses { // a fixed order: one text per count
		if n := c[status]; n != 0 {
			args = append(args, pool, string(status), n)
		}
	}
	if len(args) == 0 {
		return nil
	}
	st, err := s.txStmt(ctx, tx, countSQL(len(args)/3))
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}
