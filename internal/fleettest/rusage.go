//go:build unix

package fleettest

import "syscall"

// MaxRSS is the peak resident set size of an exited process in bytes
// (getrusage's ru_maxrss, KiB on Linux); 0 while it runs or where the
// system does not report it.
func (p *Proc) MaxRSS() int64 {
	if !p.Exited() || p.cmd.ProcessState == nil {
		return 0
	}
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss) * 1024 //nolint:unconvert // int32 on 32-bit platforms
	}
	return 0
}
