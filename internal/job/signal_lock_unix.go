//go:build unix

package job

import (
	"fmt"
	"os"
	"syscall"
)

// lockSignal takes an exclusive lock on path's lock file (path + ".lock"),
// so that two routines appending to one signal at once take turns instead
// of the later rename dropping the other's days. The returned func
// releases it.
func lockSignal(path string) (func(), error) {
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("collect: signal: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("collect: signal: lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}
