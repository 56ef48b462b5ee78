package collect_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/taskfleet/taskfleet/pkg/collect"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// day parses YYYY-MM-DD as UTC midnight.
func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// row builds an unlabeled row.
func row(dt, inst string, score float64) collect.Row {
	return collect.Row{Datetime: day(dt), Instrument: inst, Score: score, Label: math.NaN()}
}

// lrow builds a labeled row.
func lrow(dt, inst string, score, label float64) collect.Row {
	return collect.Row{Datetime: day(dt), Instrument: inst, Score: score, Label: label}
}

func frame(rows ...collect.Row) *collect.Frame { return &collect.Frame{Rows: rows} }

func lframe(rows ...collect.Row) *collect.Frame { return &collect.Frame{Rows: rows, HasLabel: true} }

// scores renders a frame as "date inst score" triples for compact assertions.
type scored struct {
	Date  string
	Inst  string
	Score float64
}

func scoresOf(t *testing.T, f *collect.Frame) []scored {
	t.Helper()
	out := make([]scored, len(f.Rows))
	for i, r := range f.Rows {
		out[i] = scored{r.Datetime.Format(time.DateOnly), r.Instrument, r.Score}
	}
	return out
}

func requireScores(t *testing.T, want []scored, f *collect.Frame) {
	t.Helper()
	got := scoresOf(t, f)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].Date, got[i].Date, "row %d", i)
		require.Equal(t, want[i].Inst, got[i].Inst, "row %d", i)
		if math.IsNaN(want[i].Score) {
			require.True(t, math.IsNaN(got[i].Score), "row %d: want NaN, got %v", i, got[i].Score)
			continue
		}
		require.InDelta(t, want[i].Score, got[i].Score, 1e-12, "row %d", i)
	}
}
