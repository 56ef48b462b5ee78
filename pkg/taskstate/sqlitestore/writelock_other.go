//go:build !unix

package sqlitestore

import "os"

// fileLock does nothing where flock is missing: writers wait on SQLite's
// busy handler alone.
type fileLock struct{ f *os.File }

func newFileLock(f *os.File) *fileLock { return &fileLock{f: f} }

func (l *fileLock) try() bool                    { return true }
func (l *fileLock) unlock()                      {}
func (l *fileLock) waiter() (*lockWaiter, error) { return &lockWaiter{}, nil }

type lockWaiter struct{}

func (w *lockWaiter) wait() error { return nil }
func (w *lockWaiter) unlock()     {}
func (w *lockWaiter) close()      {}
