//go:build unix && !linux

package e2e_test

import "syscall"

// sysProcAttr puts a process in its own group, so a test can signal the
// group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
