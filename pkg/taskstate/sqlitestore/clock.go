package sqlitestore

import "time"

// sqlNow is the store's clock inside a statement, in Unix nanoseconds
// (millisecond precision: SQLite's 'now', which is the same for every use
// within one step of a statement). Every lease end and expiry is computed
// with it, so the clocks of the workers do not matter. It binds one
// argument: the stand-in clock of the params (nowArg), NULL for SQLite's
// own.
const sqlNow = `coalesce(?, CAST(unixepoch('subsec') * 1000 AS INTEGER) * 1000000)`

// nowArg is the argument of sqlNow for a params' Now: NULL when it is zero.
func nowArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}
