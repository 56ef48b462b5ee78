//go:build unix && !linux

package program

import "errors"

// waitExited cannot wait without reaping on this platform. The group is then
// killed only on cancellation and timeout, not after a normal exit.
func waitExited(int) error { return errors.ErrUnsupported }
