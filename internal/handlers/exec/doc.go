// Package exec is the exec task kind: it runs an external program for a task,
// so models written in any language (Python, R, a shell script) can be trained
// by the fleet. It plays the part of Qlib's task_func for code that is not Go.
//
// # Protocol
//
// The def names the program and its limits:
//
//	{"command": ["python3", "examples/exec/train.py"], "timeout": "10m", ...}
//
// The program receives the whole task document as JSON on stdin, and also in
// the file named by $TASKFLEET_TASK_FILE. It writes its result, one JSON
// object, to stdout, or to the file named by $TASKFLEET_RESULT_FILE (which,
// when it exists, wins over stdout). It logs to stderr: each line is logged
// by the worker as it arrives. A non-zero exit fails the task, and the error
// carries the last 20 lines (at most 4 KiB) of stderr.
//
// # Processes
//
// The program runs in its own process group. On cancellation (the task's
// lease was lost, the worker is shutting down) or when the def's timeout
// elapses, SIGKILL goes to the whole group, so grandchildren such as a shell's
// background jobs die too. On Linux, whatever the program leaves running in
// its group when it exits is killed as well. A program that starts its own
// session (setsid) leaves the group and is not tracked.
package exec
