package rolling

// Temporary differential check against a Python port of Qlib; removed before hand-off.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"testing"
	"time"
)

type qrefSpec struct {
	Cal struct {
		Start    string   `json:"start"`
		End      string   `json:"end"`
		Holidays []string `json:"holidays"`
		LastData string   `json:"last_data,omitempty"`
	} `json:"cal"`
	Gens      []map[string]any `json:"gens"`
	Templates []map[string]any `json:"templates"`
}

func TestQref(t *testing.T) {
	if os.Getenv("TASKFLEET_QREF") == "" {
		t.Skip("set TASKFLEET_QREF")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var specs []qrefSpec
	for range 3000 {
		specs = append(specs, randomSpec(rng))
	}
	in, _ := json.Marshal(specs)
	cmd := exec.Command("python3", "/tmp/qref/driver.py")
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var py []map[string]any
	if err := json.Unmarshal(out, &py); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	shown := map[string]int{}
	for i, s := range specs {
		gotTasks, gerr := runSpec(s)
		pyErr, pyHasErr := py[i]["error"]
		var kind string
		switch {
		case gerr != nil && pyHasErr:
			kind = "both error: " + fmt.Sprint(pyErr)[:min(25, len(fmt.Sprint(pyErr)))] + " | " + shortErr(regexp.MustCompile(`\d{4}-\d\d-\d\d|index -?\d+|\d+ trading`).ReplaceAllString(gerr.Error(), "X"))
		case gerr != nil:
			kind = "go error only: " + shortErr(gerr.Error())
		case pyHasErr:
			kind = "py error only: " + fmt.Sprint(pyErr)
		default:
			b, _ := json.Marshal(gotTasks)
			var g any
			json.Unmarshal(b, &g)
			if reflect.DeepEqual(g, py[i]["tasks"]) {
				kind = "equal"
			} else {
				kind = "DIFFERENT"
			}
		}
		if len(kind) > 60 && kind[:4] != "both" {
			kind = kind[:60]
		}
		kinds[kind]++
		if kind != "equal" && kind[:4] != "both" && shown[kind] < 2 {
			shown[kind]++
			sb, _ := json.Marshal(s)
			pb, _ := json.Marshal(py[i])
			gb, _ := json.Marshal(gotTasks)
			t.Logf("%s\nspec %s\npy %s\ngo %s err %v", kind, sb, pb, gb, gerr)
		}
	}
	for k, n := range kinds {
		t.Logf("%6d %s", n, k)
	}
}

func shortErr(s string) string {
	if len(s) > 150 {
		return s[:150]
	}
	return s
}

func runSpec(s qrefSpec) ([]map[string]any, error) {
	start, _ := ParseDate(s.Cal.Start)
	end, _ := ParseDate(s.Cal.End)
	var hs []time.Time
	for _, h := range s.Cal.Holidays {
		d, _ := ParseDate(h)
		hs = append(hs, d)
	}
	cal, err := BusinessDays(start, end, hs)
	if err != nil {
		return nil, err
	}
	if s.Cal.LastData != "" {
		d, _ := ParseDate(s.Cal.LastData)
		if cal, err = cal.WithLastDataDay(d); err != nil {
			return nil, err
		}
	}
	var gens []Generator
	for _, g := range s.Gens {
		if g["type"] == "rolling" {
			rg := &RollingGen{Calendar: cal, Step: int(g["step"].(float64)), Type: RollType(g["rtype"].(string))}
			if tr, ok := g["trunc"]; ok && tr != nil {
				rg.TruncDays = int(tr.(float64))
			}
			if m, ok := g["mod"]; ok && m == false {
				rg.NoDatasetMod = true
			}
			gens = append(gens, rg)
		} else {
			var hs []int
			for _, h := range g["horizons"].([]any) {
				hs = append(hs, int(h.(float64)))
			}
			gens = append(gens, &MultiHorizonGen{Calendar: cal, Horizons: hs, LabelLeakN: int(g["leak"].(float64))})
		}
	}
	tasks, err := Generate(s.Templates, gens...)
	if err != nil {
		return nil, err
	}
	return NormalizeTasks(tasks), nil
}

func randomSpec(r *rand.Rand) qrefSpec {
	var s qrefSpec
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(10))
	n := 20 + r.IntN(150)
	s.Cal.Start = FormatDate(base)
	s.Cal.End = FormatDate(base.AddDate(0, 0, n))
	for d := 0; d < n; d++ {
		if r.IntN(20) == 0 {
			s.Cal.Holidays = append(s.Cal.Holidays, FormatDate(base.AddDate(0, 0, d)))
		}
	}
	if r.IntN(2) == 0 {
		s.Cal.LastData = FormatDate(base.AddDate(0, 0, r.IntN(n+1)))
	}
	date := func(lo, hi int) string { return FormatDate(base.AddDate(0, 0, lo+r.IntN(max(hi-lo, 1)))) }
	// ordered points
	a := 1 + r.IntN(n/3+1)
	if r.IntN(10) == 0 {
		a = -5 + r.IntN(8)
	}
	b := a + r.IntN(n/3+1)
	c := b + 1 + r.IntN(5)
	d := c + r.IntN(10)
	e := d + 1 + r.IntN(8)
	f := e + r.IntN(n)
	if r.IntN(8) == 0 {
		f = n + r.IntN(30)
	}
	segs := map[string]any{
		"train": []any{date(a, a+1), date(b, b+1)},
		"test":  []any{date(e, e+1), date(f, f+1)},
	}
	if r.IntN(4) == 0 {
		segs["test"].([]any)[1] = nil
	}
	if r.IntN(2) == 0 {
		segs["valid"] = []any{date(c, c+1), date(d, d+1)}
	}
	ds := map[string]any{"segments": segs}
	switch r.IntN(5) {
	case 0:
		ds["handler"] = map[string]any{"class": "H", "kwargs": map[string]any{"end_time": date(b, f+5)}}
	case 1:
		ds["handler"] = map[string]any{"class": "H", "kwargs": map[string]any{"end_time": nil}}
	case 2:
		ds["handler"] = map[string]any{"class": "H", "kwargs": map[string]any{"start_time": "2019-01-01"}}
	case 3:
		ds["handler"] = "file:///tmp/h.pkl"
	}
	s.Templates = []map[string]any{{"model": map[string]any{"class": "M"}, "dataset": map[string]any{"kwargs": ds}}}
	rolling := map[string]any{"type": "rolling", "step": float64(1 + r.IntN(30)), "rtype": []string{"sliding", "expanding"}[r.IntN(2)]}
	switch r.IntN(4) {
	case 0:
		rolling["trunc"] = float64(1)
	case 1:
		rolling["trunc"] = float64(3)
	case 2:
		rolling["trunc"] = float64(1 + r.IntN(8))
	}
	if r.IntN(5) == 0 {
		rolling["mod"] = false
	}
	mh := map[string]any{"type": "mh", "horizons": []any{float64(1 + r.IntN(5)), float64(1 + r.IntN(10))}, "leak": float64(r.IntN(3))}
	switch r.IntN(4) {
	case 0:
		s.Gens = []map[string]any{rolling, mh}
	case 1:
		s.Gens = []map[string]any{mh, rolling}
	default:
		s.Gens = []map[string]any{rolling}
	}
	return s
}
