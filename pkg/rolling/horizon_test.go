package rolling

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMultiHorizonGen(t *testing.T) {
	t.Parallel()
	cal := testCal(t)
	task := tmpl(map[string]any{
		"train": seg("2020-01-04", "2020-02-28"),
		"valid": seg("2020-01-27", "2020-02-07"),
		"test":  seg("2020-02-01", nil),
	}, handlerEnd("2020-02-01"))
	g := &MultiHorizonGen{
		Calendar:   cal,
		Horizons:   []int{5, 10},
		LabelLeakN: 2,
		Set: map[string]any{
			"dataset.kwargs.handler.kwargs.label": []any{"Ref($close, -{h+1}) / Ref($close, -1) - 1"},
			"model.kwargs.horizon":                "{h}",
			"model.kwargs.name":                   "h{h}-{h - 1}",
		},
	}
	got, err := g.Generate(task)
	require.NoError(t, err)
	// The test segment is only aligned: [Sat 02-01 -> 02-03 (21), null].
	// Truncation by h + 2 from 21: h=5 -> 14 (01-23), h=10 -> 9 (01-15).
	// train [Sat 01-04 -> 2, 39] and valid [16, 25] are clamped to it.
	// No handler modification: end_time stays 02-01.
	require.Equal(t, []string{
		"train=[2020-01-06, 2020-01-23] valid=[2020-01-23, 2020-01-23] test=[2020-02-03, null] end_time=2020-02-01",
		"train=[2020-01-06, 2020-01-15] valid=[2020-01-15, 2020-01-15] test=[2020-02-03, null] end_time=2020-02-01",
	}, windows(t, got))
	for i, h := range []int{5, 10} {
		label, _ := GetPath(got[i], "dataset.kwargs.handler.kwargs.label")
		require.Equal(t, []any{"Ref($close, -" + strconv.Itoa(h+1) + ") / Ref($close, -1) - 1"}, label)
		horizon, _ := GetPath(got[i], "model.kwargs.horizon")
		require.Equal(t, h, horizon, "a lone {h} becomes an integer")
		name, _ := GetPath(got[i], "model.kwargs.name")
		require.Equal(t, "h"+strconv.Itoa(h)+"-"+strconv.Itoa(h-1), name)
	}
	_, ok := GetPath(task, "model.kwargs")
	require.False(t, ok, "the template is not modified")
}

func TestMultiHorizonGenDefaultsAndFunc(t *testing.T) {
	t.Parallel()
	var seen []int
	g := &MultiHorizonGen{
		Calendar:   testCal(t),
		LabelLeakN: DefaultLabelLeakN,
		SetHorizonFunc: func(task map[string]any, h int) error {
			seen = append(seen, h)
			return SetPath(task, "model.kwargs.h", h)
		},
	}
	got, err := g.Generate(tmpl(map[string]any{
		"train": seg("2020-01-03", "2020-01-31"),
		"test":  seg("2020-02-03", "2020-02-14"),
	}, nil))
	require.NoError(t, err)
	// Default horizons [5], label_leak_n 2: 21 - 7 = 14.
	require.Equal(t, []int{5}, seen)
	require.Equal(t, []string{"train=[2020-01-03, 2020-01-23] test=[2020-02-03, 2020-02-14]"}, windows(t, got))
}

func TestMultiHorizonGenErrors(t *testing.T) {
	t.Parallel()
	cal := testCal(t)
	for _, tc := range []struct {
		name     string
		gen      MultiHorizonGen
		task     map[string]any
		contains string
	}{
		{
			name: "open train end (Qlib TypeError)", gen: MultiHorizonGen{Calendar: cal},
			task:     tmpl(map[string]any{"train": seg("2020-01-03", nil), "test": seg("2020-02-03", nil)}, nil),
			contains: "dataset.kwargs.segments.train.1: open end",
		},
		{
			name: "test without dates (Qlib ValueError)", gen: MultiHorizonGen{Calendar: cal},
			task:     tmpl(map[string]any{"train": seg("2020-01-03", "2020-01-10"), "test": seg(nil, nil)}, nil),
			contains: "dataset.kwargs.segments.test: both ends are open",
		},
		{
			name: "set through a string handler", gen: MultiHorizonGen{Calendar: cal, Set: map[string]any{"dataset.kwargs.handler.kwargs.label": "{h}"}},
			task:     tmpl(map[string]any{"test": seg("2020-02-03", nil)}, "file:///h.pkl"),
			contains: `dataset.kwargs.handler: cannot set "kwargs.label" inside a string ("file:///h.pkl")`,
		},
		{
			name: "no test", gen: MultiHorizonGen{Calendar: cal},
			task:     tmpl(map[string]any{"train": seg("2020-01-03", "2020-01-10")}, nil),
			contains: "dataset.kwargs.segments.test: missing",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.gen.Generate(tc.task)
			require.ErrorIs(t, err, ErrInvalidTemplate)
			require.ErrorContains(t, err, tc.contains)
		})
	}
	for _, g := range []MultiHorizonGen{{}, {Calendar: cal, Horizons: []int{0}}, {Calendar: cal, LabelLeakN: -1}} {
		require.ErrorIs(t, g.Validate(), ErrInvalidConfig)
	}
}
