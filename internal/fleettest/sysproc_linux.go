//go:build linux

package fleettest

import "syscall"

// sysProcAttr puts a process in its own group, so a test can signal the
// group, and has the kernel kill it if the test binary dies without running
// its cleanups (a panic, a -timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup sends SIGKILL to the process group of pid.
func killGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }
