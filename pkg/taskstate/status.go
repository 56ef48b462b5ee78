package taskstate

import "fmt"

// Status is the state of a task. The string values are Qlib's, so a pool
// written by taskfleet reads naturally to a Qlib user.
type Status string

const (
	// StatusWaiting is a task ready to run. Manager.Create puts new tasks
	// here; Return, the reaper and the admin resets (ResetWaiting,
	// RetryFailed) bring tasks back. A claim moves it to StatusRunning.
	StatusWaiting Status = "waiting"

	// StatusRunning is a task held by a worker under a lease. Only Claim moves
	// a task in. Commit moves it to StatusDone or StatusPartDone, Return back
	// to the status it was claimed from (or StatusFailed when its attempts are
	// spent), Fail to StatusFailed, and the reaper acts like Return once the
	// lease has expired.
	StatusRunning Status = "running"

	// StatusPartDone is phase one of a two-phase task finished (Qlib's
	// DelayTrainerRM): a Commit with To=StatusPartDone put it here, with its
	// result stored. A claim from StatusPartDone runs phase two on that
	// result. Waiters count it as undone, as Qlib does.
	StatusPartDone Status = "part_done"

	// StatusDone is a finished task with its result. Only Commit moves a task
	// in; only admin operations (ResetStatus, Remove) move it out.
	StatusDone Status = "done"

	// StatusFailed is a task that will not run again on its own: its attempts
	// are spent, its payload could not be decoded, its result was too
	// large, or Cancel ended it (LastError "cancelled: REASON"). LastError
	// says why. RetryFailed and ResetStatus move it out.
	StatusFailed Status = "failed"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusWaiting, StatusRunning, StatusPartDone, StatusDone, StatusFailed}

// Valid reports whether s is one of the five statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusWaiting, StatusRunning, StatusPartDone, StatusDone, StatusFailed:
		return true
	}
	return false
}

// Claimable reports whether a worker may claim a task in status s.
func (s Status) Claimable() bool { return s == StatusWaiting || s == StatusPartDone }

// ParseStatus returns the status named s, or an error naming the valid ones.
func ParseStatus(s string) (Status, error) {
	st := Status(s)
	if !st.Valid() {
		return "", fmt.Errorf("%w: unknown status %q (want one of waiting, running, part_done, done, failed)", ErrInvalidStatus, s)
	}
	return st, nil
}

// Event is a hint the Manager publishes after a successful store write.
type Event string

const (
	// EventCreated: new tasks were inserted into the pool.
	EventCreated Event = "created"
	// EventAvailable: tasks became claimable again (returned, reaped, reset).
	EventAvailable Event = "available"
	// EventCommitted: tasks were committed to done or part_done.
	EventCommitted Event = "committed"
	// EventFailed: tasks moved to failed.
	EventFailed Event = "failed"
)
