package program

import (
	"context"
	"errors"
	"fmt"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// ManagerSink returns a LogSink writing each attempt's log to the store of
// m (Manager.PutLog), where `dispatcher logs` reads it. Every write
// replaces the attempt's log with the newest total and tail. A ref of
// another pool than m's is an error: the log would land under the wrong
// task.
func ManagerSink(m *taskstate.Manager) LogSink { return managerSink{m: m} }

type managerSink struct{ m *taskstate.Manager }

func (s managerSink) WriteLog(ctx context.Context, ref LogRef, total int64, tail []byte) error {
	if ref.Pool != s.m.Pool() {
		return fmt.Errorf("program log of task %s: pool %q, but the sink writes to pool %q", ref.ID, ref.Pool, s.m.Pool())
	}
	err := s.m.PutLog(ctx, taskstate.TaskLog{ID: ref.ID, Phase: ref.Phase, Attempt: ref.Attempt, Total: total, Tail: tail})
	if errors.Is(err, taskstate.ErrNotFound) {
		return nil // the task was removed while its program ran: no log to keep
	}
	return err
}
