package program

import (
	"errors"

	"golang.org/x/sys/unix"
)

// waitExited blocks until process pid has exited, leaving it waitable (not
// reaped), so its process group id cannot be reused yet.
func waitExited(pid int) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
