//go:build unix

package exec

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// processGroup runs a command in its own process group and kills the group.
//
// Signalling a group by id is only safe while the group leader has not been
// reaped: after that the id may be reused. So the leader's exit is observed
// without reaping it (waitExited), the group is killed, and only then does
// cmd.Wait reap the leader. The mutex makes a context cancellation that races
// with the exit see the group as gone instead of signalling a stale id.
type processGroup struct {
	cmd *exec.Cmd

	mu   sync.Mutex
	done bool
}

func newProcessGroup(cmd *exec.Cmd) *processGroup {
	g := &processGroup{cmd: cmd}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = g.kill
	return g
}

// kill sends SIGKILL to the whole group. It is cmd.Cancel: os/exec calls it
// when the command's context is done.
func (g *processGroup) kill() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return os.ErrProcessDone
	}
	return killGroup(g.cmd.Process.Pid)
}

// exited blocks until the leader has exited, kills what is left of its group
// and marks the group done. cmd.Wait must be called afterwards to reap the
// leader. Where the platform cannot wait without reaping, it returns at once
// and leaves the group to cancellation.
func (g *processGroup) exited() {
	if err := waitExited(g.cmd.Process.Pid); err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// The leader is a zombie, so its id still names the group.
	_ = killGroup(g.cmd.Process.Pid)
	g.done = true
}

func killGroup(pgid int) error {
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}
