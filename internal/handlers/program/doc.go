// Package program runs programs registered on a worker as task kinds: a
// Qlib user's Python training script runs on the fleet with its task
// context, safely. It owns the program specs and their parsing (the
// --program flag, TASKFLEET_PROGRAMS, the --programs YAML file), the
// handler that runs one attempt of a program (environment, task and result
// files, process group and parent-death handling, timeouts), and the
// capture of the program's output as the task's log (LogSink).
//
// # Security
//
// The program, its argv, directory, timeout and environment are the
// worker's configuration (Spec). The task's def is data only: a def with a
// "command" key is handed to the program like any other def, never run. A
// program gets a minimal environment: PATH, HOME, LANG, LC_*, TZ and TMPDIR
// from the worker, the variables its spec passes (PassEnv) or sets (Env),
// and the task context below. Nothing else of the worker's environment
// reaches it: not the store URI, the NATS credentials, any other
// TASKFLEET_* setting, nor LD_PRELOAD. A spec may not name a TASKFLEET_*
// variable.
//
// # Task context
//
// Environment of the program:
//
//	TASKFLEET_TASK_ID, TASKFLEET_POOL, TASKFLEET_KIND
//	TASKFLEET_ATTEMPT, TASKFLEET_MAX_ATTEMPTS (0: unlimited)
//	TASKFLEET_PHASE        waiting (phase one or a one-phase run) or part_done (phase two)
//	TASKFLEET_TASK_FILE    the task document (also on stdin)
//	TASKFLEET_RESULT_FILE  where the program may write its JSON result
//	TASKFLEET_WORK_DIR     a fresh directory per attempt, removed after it
//	TASKFLEET_ARTIFACT_DIR a fresh directory inside the work dir for the attempt's artifacts
//	TASKFLEET_DEADLINE     RFC 3339, when the spec has a timeout
//
// A worker makes its attempts' work directories in a work root of its own
// (OpenWorkRoot: $TMPDIR/taskfleet_work-*), flocked while the process
// lives. A worker killed before it could remove them leaves them, with
// their artifacts; the next work root opened in the same directory removes
// every root whose lock is free.
//
// The task document is {"id", "pool", "kind", "attempt", "max_attempts",
// "phase", "def", "res"}; res is phase one's result in phase two, else null.
// The result is the JSON object in the result file, else the last stdout
// line that is a JSON object, else {}; at most 16 MiB. A non-zero exit
// fails the attempt, and the error ends with the tail of the log.
// python/taskfleet_task.py reads the context and writes the result.
//
// # Artifacts
//
// When the program exits 0, every regular file directly in
// TASKFLEET_ARTIFACT_DIR is stored as an artifact of the attempt, by its
// file name (taskstate.Artifacts): streamed from disk, committed with the
// result, discarded if the attempt fails. Anything else there (a symbolic
// link, a directory, a FIFO) fails the task for good: the worker never
// reads a file through a link the program made. An artifact over the
// worker's limit fails the task for good too.
//
// # Processes
//
// On Linux the program runs under a supervisor: the worker's own binary
// re-executed (/proc/self/exe) under the name "taskfleet-supervise", which
// the package's init recognises before main runs. The supervisor leads a new
// process group, starts the program in it and waits. It has a parent-death
// signal (SIGTERM), and on it, once its parent is no longer the worker, it
// SIGKILLs the whole group: so after a kill -9 of the worker neither the
// program nor its children (which a parent-death signal of their own would
// not reach) survive. It also polls its parent twice a second as a fallback.
// On cancellation (lease lost, drain deadline) or timeout the worker sends
// SIGTERM to the group, then SIGKILL after the grace; when the program
// exits, what it left in its group is killed. A process that starts its
// own session (setsid) leaves the group and is not tracked. Elsewhere the
// program runs directly in its own process group, without the parent-death
// guarantee.
//
// # Logs
//
// The program's stdout (but the result line) and stderr form the attempt's
// log: the last Options.MaxLogBytes are kept and written to the LogSink
// every FlushInterval while it runs and once at the end.
package program
