package collect_test

import (
	"fmt"
	"time"

	"github.com/taskfleet/taskfleet/pkg/collect"
)

func date(s string) time.Time {
	t, _ := time.Parse(time.DateOnly, s)
	return t
}

func printFrame(f *collect.Frame) {
	for _, r := range f.Rows {
		fmt.Printf("%s %s %+.4f\n", r.Datetime.Format(time.DateOnly), r.Instrument, r.Score)
	}
}

// Two rolling windows overlap on 2024-01-03: the window that starts later wins
// there, whatever the keys say.
func ExampleRollingEnsemble() {
	first := &collect.Frame{Rows: []collect.Row{
		{Datetime: date("2024-01-02"), Instrument: "AAA", Score: 0.1},
		{Datetime: date("2024-01-03"), Instrument: "AAA", Score: 0.2},
	}}
	second := &collect.Frame{Rows: []collect.Row{
		{Datetime: date("2024-01-03"), Instrument: "AAA", Score: 0.9},
		{Datetime: date("2024-01-04"), Instrument: "AAA", Score: 0.8},
	}}
	stitched, err := collect.RollingEnsemble{}.Frame(collect.Collection{
		collect.StrKey("window-b"): first,
		collect.StrKey("window-a"): second,
	})
	if err != nil {
		panic(err)
	}
	printFrame(stitched)
	// Output:
	// 2024-01-02 AAA +0.1000
	// 2024-01-03 AAA +0.9000
	// 2024-01-04 AAA +0.8000
}

// Each model's scores are z-scored per date before the mean, so models on
// different scales weigh the same: model a (1, 2, 3) has z-scores (-1, 0, 1),
// model b (10, 30, 20) has (-1, 1, 0).
func ExampleAverageEnsemble() {
	a := &collect.Frame{Rows: []collect.Row{
		{Datetime: date("2024-01-02"), Instrument: "AAA", Score: 1},
		{Datetime: date("2024-01-02"), Instrument: "BBB", Score: 2},
		{Datetime: date("2024-01-02"), Instrument: "CCC", Score: 3},
	}}
	b := &collect.Frame{Rows: []collect.Row{
		{Datetime: date("2024-01-02"), Instrument: "AAA", Score: 10},
		{Datetime: date("2024-01-02"), Instrument: "BBB", Score: 30},
		{Datetime: date("2024-01-02"), Instrument: "CCC", Score: 20},
	}}
	avg, err := collect.AverageEnsemble{}.Frame(collect.Collection{
		collect.StrKey("a"): a,
		collect.StrKey("b"): b,
	})
	if err != nil {
		panic(err)
	}
	printFrame(avg)
	// Output:
	// 2024-01-02 AAA -1.0000
	// 2024-01-02 BBB +0.5000
	// 2024-01-02 CCC +0.5000
}

// SingleKeyEnsemble makes a grouped result easier to read.
func ExampleSingleKeyEnsemble() {
	grouped := collect.Collection{
		collect.StrKey("pred"): collect.Collection{collect.StrKey("LGBModel"): "stitched frame"},
	}
	fmt.Println(collect.SingleKeyEnsemble{}.Unwrap(grouped))
	// Output:
	// stitched frame
}
