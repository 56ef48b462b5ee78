//go:build !linux

package sqlitestore

// Elsewhere a writer cannot tell cheaply whether it is alone: it always
// takes the flock.

func (l *fileLock) join() bool  { return false }
func (l *fileLock) alone() bool { return false }
