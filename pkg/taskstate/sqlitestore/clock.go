package sqlitestore

import "time"

// sqlNow is the store's clock inside a statement, in Unix nanoseconds
// (millisecond precision: SQLite's 'now', which is the same for every use
// within one step of a statement). Every lease end and expiry is computed
// with it, so the clocks of the workers do not matter. It binds one
// argument: the stand-in clock of the params, the host's clock read by a
// write (txNow), or NULL for SQLite's own (nowArg).
const sqlNow = `coalesce(?, CAST(unixepoch('subsec') * 1000 AS INTEGER) * 1000000)`

// nowArg is the argument of sqlNow for a params' Now: NULL when it is zero.
// Reads use it; writes that hold the writer use txNow.
func nowArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// txNow is the argument of sqlNow in a write transaction that holds the
// writer: the params' Now, else the host's clock read now, in whole
// milliseconds like SQLite's 'now'. It is the clock SQLite would read: a
// SQLite file is on one host, and every process that writes it runs there
// (see doc.go). Read once in Go it spares a claim four evaluations of
// unixepoch in SQL. It must be read after the writer is taken, never
// while preparing: a lease that starts before the wait for the writer
// would end early by that wait.
func txNow(t time.Time) any {
	if !t.IsZero() {
		return t.UnixNano()
	}
	return time.Now().UnixMilli() * int64(time.Millisecond)
}
