//go:build unix

package sqlitestore

import (
	"os"
	"syscall"
)

// fileLock is an exclusive flock on an open file.
type fileLock struct{ f *os.File }

func (l *fileLock) try() bool {
	return syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

func (l *fileLock) wait() error {
	for {
		err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func (l *fileLock) unlock() { _ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN) }
