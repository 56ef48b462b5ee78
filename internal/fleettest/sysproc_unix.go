//go:build unix && !linux

package fleettest

import "syscall"

// sysProcAttr puts a process in its own group, so a test can signal the
// group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// killGroup sends SIGKILL to the process group of pid.
func killGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }
