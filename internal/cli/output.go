package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Table writes aligned columns.
type Table struct{ tw *tabwriter.Writer }

// NewTable starts a table with the given header.
func NewTable(w io.Writer, header ...string) *Table {
	t := &Table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.Row(toAny(header)...)
	return t
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Row adds a row.
func (t *Table) Row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		parts[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

// Flush writes the table.
func (t *Table) Flush() error { return t.tw.Flush() }

// CountsJSON orders counts in lifecycle order for JSON output:
// {"waiting":0,"running":0,"part_done":0,"done":2000,"failed":0}.
type CountsJSON taskstate.Counts

// MarshalJSON implements json.Marshaler.
func (c CountsJSON) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range taskstate.Statuses {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%d", s, c[s])
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// TaskJSON is a task as `query -o json` prints it.
type TaskJSON struct {
	ID          string         `json:"id"`
	Status      string         `json:"status"`
	Kind        string         `json:"kind"`
	Priority    int            `json:"priority"`
	Attempts    int            `json:"attempts"`
	MaxAttempts int            `json:"max_attempts"`
	LastError   string         `json:"last_error"`
	Owner       string         `json:"owner"`
	LeaseUntil  *time.Time     `json:"lease_until,omitempty"`
	Filter      map[string]any `json:"filter"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	StartedAt   *time.Time     `json:"started_at,omitempty"`
	FinishedAt  *time.Time     `json:"finished_at,omitempty"`
	Def         any            `json:"def,omitempty"`
	Res         any            `json:"res,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// NewTaskJSON converts a task.
func NewTaskJSON(t *taskstate.Task) TaskJSON {
	return TaskJSON{
		ID: t.ID, Status: string(t.Status), Kind: t.Kind, Priority: t.Priority, Attempts: t.Attempts,
		MaxAttempts: t.MaxAttempts, LastError: t.LastError, Owner: t.Lease.Owner, LeaseUntil: timePtr(t.Lease.Until),
		Filter: t.Filter, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, StartedAt: timePtr(t.StartedAt), FinishedAt: timePtr(t.FinishedAt),
	}
}

// Shorten cuts s to n runes with an ellipsis.
func Shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
