package sqlitestore

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// keyArg is how a dedup key is stored: a SHA-256 in hex as its 32 bytes,
// anything else as it is.
func keyArg(key string) any {
	if len(key) != 2*sha256.Size || strings.ContainsFunc(key, func(r rune) bool { return (r < '0' || r > '9') && (r < 'a' || r > 'f') }) {
		return key // not lower-case hex: it would not read back the same
	}
	b, _ := hex.DecodeString(key)
	return b
}

// keyHash is the dedup index's entry for key in pool (column kh): 64 bits
// of FNV-1a over both. Tasks with the same key in other pools, and the
// rare keys of another hash that share it, are told apart by the row.
func keyHash(pool, key string) int64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := range len(pool) {
		h = (h ^ uint64(pool[i])) * prime
	}
	h *= prime // the separator, a zero byte
	for i := range len(key) {
		h = (h ^ uint64(key[i])) * prime
	}
	return int64(h)
}

// fromNanos reads a stored time (Unix nanoseconds) back, in UTC; NULL and 0
// are the zero time.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return nanos(n.Int64)
}

// nanos is fromNanos of a value that is not NULL.
func nanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// claimCols is what a claim returns: what a worker needs to run the task
// and write about it later (res is added for a claim from part_done). The
// filter is not parsed (a handler gets the def) and the dedup key is left
// out: every returned value is copied while the claim holds the writer, so
// the list is kept short.
const claimCols = `id, kind, priority, seq, attempts, max_attempts, run_after, created_at, def`

// scanClaimed reads the rows a claim returns (claimCols, lease_until) into
// running tasks. The claim set started_at to lease_until - Lease, so that
// column is not copied for each row. Every row is read while the claim
// holds the writer, so its integers are scanned into any and asserted:
// database/sql converts an int64 into an int or int64 field by reflection,
// which cost 0.23 µs a claimed task for these seven columns
// (BenchmarkScanClaimed).
func scanClaimed(rows *sql.Rows, p taskstate.ClaimParams) ([]*taskstate.Task, error) {
	defer rows.Close()
	var (
		out     []*taskstate.Task
		from    = taskstate.Status(claimableStatus(p.From))
		withRes = from == taskstate.StatusPartDone
		v       [len(claimInts)]any
		n       [len(claimInts)]int64
	)
	dest := make([]any, 0, 11)
	for rows.Next() {
		t := &taskstate.Task{Status: taskstate.StatusRunning, ClaimedFrom: from,
			Lease: taskstate.Lease{Owner: p.Owner, Token: p.Token}}
		dest = append(dest[:0], &t.ID, &t.Kind, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &t.Def, &v[6])
		if withRes {
			dest = append(dest, &t.Res)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		for i, x := range v {
			var ok bool
			if n[i], ok = x.(int64); !ok {
				return nil, fmt.Errorf("task %s: %s is %T, not an integer", t.ID, claimInts[i], x)
			}
		}
		t.Priority, t.Seq, t.Attempts, t.MaxAttempts = int(n[0]), n[1], int(n[2]), int(n[3])
		t.RunAfter, t.CreatedAt, t.Lease.Until = nanos(n[4]), nanos(n[5]), nanos(n[6])
		t.StartedAt = nanos(n[6] - int64(p.Lease))
		t.UpdatedAt = t.StartedAt
		out = append(out, t)
	}
	return out, rows.Err()
}

// claimInts names the integer columns scanClaimed reads, in their order.
var claimInts = [...]string{"priority", "seq", "attempts", "max_attempts", "run_after", "created_at", "lease_until"}

// scanAll reads every row of taskCols (and def, res with payloads) and closes rows.
func scanAll(rows *sql.Rows, payloads bool) ([]*taskstate.Task, error) {
	defer rows.Close()
	var out []*taskstate.Task
	for rows.Next() {
		t, err := scanTask(rows, payloads)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// scanTask reads the current row of taskCols (and def, res with payloads).
func scanTask(rows *sql.Rows, payloads bool) (*taskstate.Task, error) {
	var (
		t                                  taskstate.Task
		status, filter                     string
		lastErr, owner, token, claimedFrom sql.NullString
		leaseUntil, startedAt, finishedAt  sql.NullInt64
		runAfter, createdAt, updatedAt     sql.NullInt64
		dest                               = []any{&t.ID, &t.Kind, &t.Key, &status, &t.Priority, &t.Seq, &filter, &t.Attempts, &t.MaxAttempts, &lastErr, &owner, &token, &leaseUntil, &claimedFrom, &runAfter, &createdAt, &updatedAt, &startedAt, &finishedAt}
	)
	if payloads {
		dest = append(dest, &t.Def, &t.Res)
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	t.Status = taskstate.Status(status)
	if err := json.Unmarshal([]byte(filter), &t.Filter); err != nil {
		return nil, fmt.Errorf("task %s: filter: %w", t.ID, err)
	}
	t.LastError = lastErr.String
	t.Lease = taskstate.Lease{Owner: owner.String, Token: token.String, Until: fromNanos(leaseUntil)}
	t.ClaimedFrom = taskstate.Status(claimedFrom.String)
	t.RunAfter = fromNanos(runAfter)
	t.CreatedAt = fromNanos(createdAt)
	t.UpdatedAt = fromNanos(updatedAt)
	t.StartedAt = fromNanos(startedAt)
	t.FinishedAt = fromNanos(finishedAt)
	return &t, nil
}
