package job

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"time"

	"github.com/taskfleet/taskfleet/pkg/collect"
	"github.com/taskfleet/taskfleet/pkg/rolling"
)

// SignalUpdate is what a collection did to collect.signal.
type SignalUpdate struct {
	Path string `json:"path"`
	// Days is the number of days appended (all of them when the signal
	// was written afresh); From and To the first and last, when any.
	Days      int    `json:"days_appended"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Rewritten bool   `json:"rewritten"`
}

// updateSignal appends the days of pred after the last date of the signal
// file at path (Qlib's prepare_signals), or writes pred whole when the file
// does not exist or overwrite is set. Concurrent updates of one path take
// turns (lockSignal).
func updateSignal(ctx context.Context, path string, pred *collect.Frame, overwrite bool, o collect.ReadOptions) (*SignalUpdate, error) {
	unlock, err := lockSignal(path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	old, err := readSignal(ctx, path, o)
	if err != nil {
		return nil, err
	}
	up := &SignalUpdate{Path: path, Rewritten: old == nil || overwrite}
	merged, added := pred, pred
	if !up.Rewritten {
		last := old.Rows[0].Datetime
		for _, r := range old.Rows {
			if r.Datetime.After(last) {
				last = r.Datetime
			}
		}
		added = pred.Between(last.Add(time.Nanosecond), time.Time{})
		merged = &collect.Frame{Rows: append(old.Rows, added.Rows...), HasLabel: old.HasLabel}
		if old.HasLabel && !pred.HasLabel {
			for i := len(old.Rows); i < len(merged.Rows); i++ {
				merged.Rows[i].Label = math.NaN()
			}
		}
	}
	days := map[time.Time]bool{}
	var from, to time.Time
	for _, r := range added.Rows {
		if !days[r.Datetime] {
			days[r.Datetime] = true
			if from.IsZero() || r.Datetime.Before(from) {
				from = r.Datetime
			}
			if r.Datetime.After(to) {
				to = r.Datetime
			}
		}
	}
	up.Days = len(days)
	if up.Days == 0 {
		return up, nil // nothing new: the file stays as it is
	}
	up.From, up.To = rolling.FormatDate(from), rolling.FormatDate(to)
	if err := write(path, merged); err != nil {
		return nil, fmt.Errorf("collect: signal: %w", err)
	}
	return up, nil
}

// readSignal reads the signal file, or returns nil when there is none or it
// has no rows.
func readSignal(ctx context.Context, path string, o collect.ReadOptions) (*collect.Frame, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("collect: signal: %w", err)
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	o.Name = path
	old, err := collect.ReadFrame(ctx, f, size, o)
	if err != nil {
		return nil, fmt.Errorf("collect: signal: %w%s", err, limitHint(err))
	}
	if old.Len() == 0 {
		return nil, nil
	}
	return old, nil
}
