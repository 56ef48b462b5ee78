//go:build !unix

package exec

import "os/exec"

// processGroup falls back to killing the program alone where process groups
// do not exist.
type processGroup struct{}

func newProcessGroup(*exec.Cmd) *processGroup { return &processGroup{} }

func (*processGroup) exited() {}
