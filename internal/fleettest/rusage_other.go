//go:build !unix

package fleettest

// MaxRSS is 0 where the system does not report a child's peak memory.
func (p *Proc) MaxRSS() int64 { return 0 }
