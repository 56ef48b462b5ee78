//go:build unix

package sqlitestore

import (
	"os"
	"syscall"
)

// fileLock is an exclusive flock on an open file. fd is read once: the
// calls below never touch f, which only Close does.
type fileLock struct {
	f  *os.File
	fd int
}

func newFileLock(f *os.File) *fileLock { return &fileLock{f: f, fd: int(f.Fd())} }

func (l *fileLock) try() bool {
	return syscall.Flock(l.fd, syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// unlock lets go of l; a nil l holds nothing.
func (l *fileLock) unlock() {
	if l != nil {
		_ = syscall.Flock(l.fd, syscall.LOCK_UN)
	}
}

// waiter returns a duplicate of the descriptor to wait on. It shares the
// open file, so the flock it gets is the one l holds.
func (l *fileLock) waiter() (*lockWaiter, error) {
	fd, err := syscall.Dup(l.fd)
	if err != nil {
		return nil, err
	}
	return &lockWaiter{fd: fd}, nil
}

type lockWaiter struct{ fd int }

func (w *lockWaiter) wait() error {
	for {
		err := syscall.Flock(w.fd, syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func (w *lockWaiter) unlock() { _ = syscall.Flock(w.fd, syscall.LOCK_UN) }
func (w *lockWaiter) close()  { _ = syscall.Close(w.fd) }
