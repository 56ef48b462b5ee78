//go:build unix

package program

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// processGroup runs a command in its own process group and stops the group:
// SIGTERM, then SIGKILL after a grace.
//
// Signalling a group by id is only safe while the group leader has not been
// reaped: after that the id may be reused. So the leader's exit is observed
// without reaping it (waitExited), the group is killed, and only then does
// cmd.Wait reap the leader. The mutex makes a cancellation or a grace timer
// that races with the exit see the group as gone instead of signalling a
// stale id.
type processGroup struct {
	cmd   *exec.Cmd
	grace time.Duration

	mu    sync.Mutex
	done  bool
	timer *time.Timer
}

func newProcessGroup(cmd *exec.Cmd, grace time.Duration) *processGroup {
	g := &processGroup{cmd: cmd, grace: grace}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = g.terminate
	return g
}

// terminate sends SIGTERM to the group and arms the SIGKILL after the
// grace. It is cmd.Cancel: os/exec calls it when the command's context is
// done (cancellation, timeout).
func (g *processGroup) terminate() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return os.ErrProcessDone
	}
	if g.grace <= 0 {
		return signalGroup(g.cmd.Process.Pid, syscall.SIGKILL)
	}
	if g.timer == nil {
		g.timer = time.AfterFunc(g.grace, g.kill)
	}
	return signalGroup(g.cmd.Process.Pid, syscall.SIGTERM)
}

// kill sends SIGKILL to the group unless it is gone.
func (g *processGroup) kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.done {
		_ = signalGroup(g.cmd.Process.Pid, syscall.SIGKILL)
	}
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
	_ = signalGroup(g.cmd.Process.Pid, syscall.SIGKILL)
	g.done = true
}

// reaped is called after cmd.Wait: the group id may be reused from now on.
func (g *processGroup) reaped() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.done = true
	if g.timer != nil {
		g.timer.Stop()
	}
}

func signalGroup(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}
