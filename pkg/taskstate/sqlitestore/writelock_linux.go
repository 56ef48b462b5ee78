//go:build linux

package sqlitestore

import "golang.org/x/sys/unix"

// Each writer holds an open-file-description read lock on byte 0 of
// PATH-wlock while the store is open. A lock query for a write lock there
// conflicts with those of the other stores only (never with the asker's
// own), so one system call tells whether anyone else has the file open.
// Such locks are independent of flock on Linux.

var presenceByte = unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: 0, Len: 1}

// join marks l's file as open by this store; false if it could not (the
// store then always takes the flock).
func (l *fileLock) join() bool {
	lk := presenceByte
	return unix.FcntlFlock(uintptr(l.fd), unix.F_OFD_SETLK, &lk) == nil
}

// alone reports whether no other store has the file open; false if it
// cannot tell.
func (l *fileLock) alone() bool {
	lk := presenceByte
	lk.Type = unix.F_WRLCK
	if err := unix.FcntlFlock(uintptr(l.fd), unix.F_OFD_GETLK, &lk); err != nil {
		return false
	}
	return lk.Type == unix.F_UNLCK
}
