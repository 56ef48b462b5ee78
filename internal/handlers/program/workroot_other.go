//go:build !unix

package program

import (
	"errors"
	"os"
)

// errNoLocks keeps every other work root where processes cannot lock
// files: a sweep removes nothing.
var errNoLocks = errors.New("file locks are not supported here")

// lockFile creates path when asked; it never reports another root's lock
// as free.
func lockFile(path string, create bool) (*os.File, error) {
	if !create {
		return nil, errNoLocks
	}
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}
