package rolling_test

import (
	"fmt"
	"os"
	"time"

	"github.com/taskfleet/taskfleet/pkg/rolling"
)

func ExampleRollingGen() {
	// Business days of Q1 2020 without New Year's Day, MLK Day and
	// Presidents' Day.
	date := func(s string) time.Time { t, _ := rolling.ParseDate(s); return t }
	cal, err := rolling.BusinessDays(date("2020-01-01"), date("2020-03-31"),
		[]time.Time{date("2020-01-01"), date("2020-01-20"), date("2020-02-17")})
	if err != nil {
		panic(err)
	}
	template := map[string]any{
		"model": map[string]any{"class": "LGBModel"},
		"dataset": map[string]any{"kwargs": map[string]any{
			"handler": map[string]any{"class": "Alpha158", "kwargs": map[string]any{"end_time": "2020-02-01"}},
			"segments": map[string]any{
				"train": []any{"2020-01-04", "2020-01-31"}, // starts on a Saturday
				"test":  []any{"2020-02-01", "2020-03-01"}, // a Saturday and a Sunday
			},
		}},
	}
	rg := &rolling.RollingGen{Calendar: cal, Step: 10, Type: rolling.Sliding, TruncDays: 2}
	tasks, err := rg.Generate(template)
	if err != nil {
		panic(err)
	}
	for _, task := range tasks {
		segs, _ := rolling.ReadSegments(task, "")
		end, _ := rolling.GetPath(task, rolling.HandlerEndTimePath)
		fmt.Println("train", segs["train"], "test", segs["test"], "handler end", end)
	}
	// Output:
	// train [2020-01-06, 2020-01-30] test [2020-02-03, 2020-02-14] handler end 2020-02-14
	// train [2020-01-21, 2020-02-13] test [2020-02-18, 2020-03-02] handler end 2020-03-02
}

func ExampleGenerate() {
	date := func(s string) time.Time { t, _ := rolling.ParseDate(s); return t }
	cal, err := rolling.BusinessDays(date("2020-01-01"), date("2020-03-31"), nil)
	if err != nil {
		panic(err)
	}
	template := func(model string) map[string]any {
		return map[string]any{
			"model": map[string]any{"class": model},
			"dataset": map[string]any{"kwargs": map[string]any{"segments": map[string]any{
				"train": []any{"2020-01-06", "2020-01-31"},
				"test":  []any{"2020-02-03", "2020-02-21"},
			}}},
		}
	}
	rg := &rolling.RollingGen{Calendar: cal, Step: 10, Type: rolling.Expanding}
	mh := &rolling.MultiHorizonGen{
		Calendar:   cal,
		Horizons:   []int{1, 5},
		LabelLeakN: 1,
		Set:        map[string]any{"dataset.kwargs.handler.kwargs.label": "Ref($close, -{h+1}) / Ref($close, -1) - 1"},
	}
	// 2 templates x 2 windows x 2 horizons, grouped by template, then by
	// window, then by horizon: Qlib's task_generator order.
	tasks, err := rolling.Generate([]map[string]any{template("LGBModel"), template("XGBModel")}, rg, mh)
	if err != nil {
		panic(err)
	}
	if err := rolling.WriteTable(os.Stdout, tasks, ""); err != nil {
		panic(err)
	}
	// Output:
	// #  model     label                                  train                     test
	// 0  LGBModel  Ref($close, -2) / Ref($close, -1) - 1  [2020-01-06, 2020-01-30]  [2020-02-03, 2020-02-14]
	// 1  LGBModel  Ref($close, -6) / Ref($close, -1) - 1  [2020-01-06, 2020-01-24]  [2020-02-03, 2020-02-14]
	// 2  LGBModel  Ref($close, -2) / Ref($close, -1) - 1  [2020-01-06, 2020-02-13]  [2020-02-17, 2020-02-28]
	// 3  LGBModel  Ref($close, -6) / Ref($close, -1) - 1  [2020-01-06, 2020-02-07]  [2020-02-17, 2020-02-28]
	// 4  XGBModel  Ref($close, -2) / Ref($close, -1) - 1  [2020-01-06, 2020-01-30]  [2020-02-03, 2020-02-14]
	// 5  XGBModel  Ref($close, -6) / Ref($close, -1) - 1  [2020-01-06, 2020-01-24]  [2020-02-03, 2020-02-14]
	// 6  XGBModel  Ref($close, -2) / Ref($close, -1) - 1  [2020-01-06, 2020-02-13]  [2020-02-17, 2020-02-28]
	// 7  XGBModel  Ref($close, -6) / Ref($close, -1) - 1  [2020-01-06, 2020-02-07]  [2020-02-17, 2020-02-28]
}
