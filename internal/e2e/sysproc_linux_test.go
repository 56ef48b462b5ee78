//go:build linux

package e2e_test

import "syscall"

// sysProcAttr puts a process in its own group, so a test can signal the
// group, and has the kernel kill it if the test binary dies without running
// its cleanups (a panic, a -timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
