package sqlitestore

import (
	"strings"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// finishChunk is the number of items one finish statement moves.
const finishChunk = 32

// finishForm is one shape of the fenced, batched move out of running: an
// UPDATE ... FROM (VALUES ...) whose arguments are, in order (plain ?
// placeholders: the driver binds numbered ones in quadratic time): nows
// times the now argument (sqlNow), cols values per item, the pool, and
// with fence one more now. It returns the id and new status of every row
// it moved.
type finishForm struct {
	nows  int
	fence bool
	cols  int
	texts []string // by item count, built once
	// fits reports whether the form can carry it.
	fits func(it taskstate.Transition) bool
	// args appends its values.
	args func(args []any, it taskstate.Transition) []any
}

func (f finishForm) sql(n int) string { return f.texts[n] }

func newFinishForm(cols int, head, where string, fits func(taskstate.Transition) bool, args func([]any, taskstate.Transition) []any) finishForm {
	f := finishForm{nows: strings.Count(head, sqlNow), fence: strings.Contains(where, sqlNow), cols: cols,
		texts: make([]string, finishChunk+1), fits: fits, args: args}
	row := "(" + placeholders(cols) + ")"
	for n := 1; n <= finishChunk; n++ {
		f.texts[n] = head + " FROM (VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + ") AS v " +
			where + " RETURNING tasks.id, tasks.status"
	}
	return f
}

var (
	// generalForm carries any transition. Per item: id, to, set_res, res,
	// set_error, last_error, delay (ns; 0: none), undo_attempt, token,
	// expired (0: no check of the lease's end), grace (ns). Times are the
	// store's (sqlNow).
	generalForm = newFinishForm(11, `UPDATE tasks SET status = v.column2,
		res = CASE WHEN v.column3 THEN v.column4 ELSE tasks.res END,
		last_error = CASE WHEN v.column5 THEN v.column6 ELSE tasks.last_error END,
		run_after = CASE WHEN v.column7 > 0 THEN `+sqlNow+` + v.column7 ELSE 0 END,
		attempts = CASE WHEN v.column3 AND v.column2 = 'part_done' THEN 0 ELSE tasks.attempts - v.column8 END,
		lease_owner = NULL, lease_token = NULL, lease_until = NULL, claimed_from = NULL,
		finished_at = CASE WHEN v.column2 IN ('done', 'part_done', 'failed') THEN `+sqlNow+` ELSE tasks.finished_at END,
		updated_at = `+sqlNow,
		`WHERE tasks.id = v.column1 AND tasks.pool = ? AND tasks.status = 'running' AND tasks.lease_token = v.column9
			AND (v.column10 = 0 OR tasks.lease_until < `+sqlNow+` - v.column11)`,
		func(taskstate.Transition) bool { return true },
		func(args []any, it taskstate.Transition) []any {
			undo := 0
			if it.UndoAttempt {
				undo = 1
			}
			return append(args, it.ID, string(it.To), it.SetRes, it.Res, it.SetError, it.LastError, int64(it.Delay), undo, it.Token, it.Expired, int64(it.Grace))
		})
	// commitForm carries a commit whose row the caller knows (Seq): it
	// finds the row by its rowid, not through the id index, and binds
	// five values per item instead of nine. Per item: seq, id, to, res,
	// token.
	commitForm = newFinishForm(5, `UPDATE tasks SET status = v.column3, res = v.column4, run_after = 0,
		attempts = CASE WHEN v.column3 = 'part_done' THEN 0 ELSE tasks.attempts END,
		lease_owner = NULL, lease_token = NULL, lease_until = NULL, claimed_from = NULL,
		finished_at = `+sqlNow+`, updated_at = `+sqlNow,
		`WHERE tasks.seq = v.column1 AND tasks.id = v.column2 AND tasks.pool = ? AND tasks.status = 'running' AND tasks.lease_token = v.column5`,
		func(it taskstate.Transition) bool {
			return it.Seq > 0 && it.SetRes && !it.SetError && it.Delay == 0 && !it.UndoAttempt && !it.Expired &&
				(it.To == taskstate.StatusDone || it.To == taskstate.StatusPartDone)
		},
		func(args []any, it taskstate.Transition) []any {
			return append(args, it.Seq, it.ID, string(it.To), it.Res, it.Token)
		})
	// finishForms is indexed by the group Finish puts an item in.
	finishForms = [2]finishForm{generalForm, commitForm}
)
