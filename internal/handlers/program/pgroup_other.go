//go:build !unix

package program

import (
	"os/exec"
	"time"
)

// processGroup falls back to killing the program alone where process groups
// do not exist.
type processGroup struct{}

func newProcessGroup(*exec.Cmd, time.Duration) *processGroup { return &processGroup{} }

func (*processGroup) exited() {}

func (*processGroup) reaped() {}
