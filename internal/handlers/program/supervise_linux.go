package program

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// supervisorName is argv[0] of the supervisor: the worker's binary
// re-executed, recognised by init.
const supervisorName = "taskfleet-supervise"

// parentPoll is how often the supervisor checks its parent, should the
// parent-death signal be lost.
const parentPoll = 500 * time.Millisecond

func init() {
	if len(os.Args) > 0 && os.Args[0] == supervisorName {
		os.Exit(supervise(os.Args[1:]))
	}
}

// command returns the command running argv under the supervisor:
//
//	/proc/self/exe (argv[0] "taskfleet-supervise") WORKER_PID -- argv...
//
// It leads a new process group (set by newProcessGroup) and has SIGTERM as
// its parent-death signal.
//
// The parent-death signal fires when the thread that forked the child
// exits, not only the process. Go ends a thread only when a goroutine that
// locked it exits, but the worker may run code that does; then the
// supervisor is reparented to another thread of the worker and gets a
// SIGTERM while its parent (getppid, a process id) is unchanged. The
// supervisor therefore acts on the signal only when getppid no longer is
// the worker, which makes a thread's exit harmless and keeps the signal
// armed for the process's death, with no runtime.LockOSThread held for the
// whole run.
func command(ctx context.Context, argv []string) *exec.Cmd {
	args := append([]string{strconv.Itoa(os.Getpid()), "--"}, argv...)
	cmd := exec.CommandContext(ctx, "/proc/self/exe", args...)
	cmd.Args[0] = supervisorName
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return cmd
}

// supervise runs in the supervisor: args are WORKER_PID -- argv. It starts
// argv in its own process group (which it leads) and waits for it, exiting
// as the program did. When its parent is no longer the worker (the worker
// died: the parent-death signal, or the poll), it SIGKILLs the group,
// itself included. A SIGTERM from the worker to the group reaches the
// program directly; the supervisor waits for it to end.
func supervise(args []string) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintf(os.Stderr, "%s: usage: %s WORKER_PID -- PROGRAM [ARG...]\n", supervisorName, supervisorName)
		return 2
	}
	worker, err := strconv.Atoi(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: bad worker pid %q\n", supervisorName, args[0])
		return 2
	}
	argv := args[2:]
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	orphaned := func() bool { return os.Getppid() != worker }
	killGroup := func() int {
		_ = syscall.Kill(0, syscall.SIGKILL) // the group, the supervisor too
		return 137
	}
	if orphaned() { // the worker died before the handler was installed
		return killGroup()
	}

	cmd := exec.CommandContext(context.Background(), argv[0], argv[1:]...) // killGroup ends it, not a context
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "taskfleet: cannot start the program: %v\n", err)
		return 127
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	poll := time.NewTicker(parentPoll)
	defer poll.Stop()
	for {
		select {
		case <-sigs:
			if orphaned() {
				return killGroup()
			}
		case <-poll.C:
			if orphaned() {
				return killGroup()
			}
		case err := <-done:
			if cmd.ProcessState == nil { // wait itself failed: no status to pass on
				fmt.Fprintf(os.Stderr, "taskfleet: cannot wait for the program: %v\n", err)
				return 127
			}
			ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if ok && ws.Signaled() { // end the same way, so the worker reports the signal
				signal.Reset(ws.Signal())
				_ = syscall.Kill(os.Getpid(), ws.Signal())
				time.Sleep(100 * time.Millisecond)
				return 128 + int(ws.Signal())
			}
			return cmd.ProcessState.ExitCode()
		}
	}
}
