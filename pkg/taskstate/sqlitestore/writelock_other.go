//go:build !unix

package sqlitestore

import "os"

// fileLock does nothing where flock is missing: writers wait on SQLite's
// busy handler alone.
type fileLock struct{ f *os.File }

func (l *fileLock) try() bool   { return true }
func (l *fileLock) wait() error { return nil }
func (l *fileLock) unlock()     {}
