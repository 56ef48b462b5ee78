package linear_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/taskfleet/taskfleet/internal/dataset"
	"github.com/taskfleet/taskfleet/internal/handlers/linear"
	"github.com/taskfleet/taskfleet/pkg/collect"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr(f float64) *float64 { return &f }

func panel(t *testing.T, features []string, rows ...dataset.Row) *dataset.Panel {
	t.Helper()
	p, err := dataset.NewPanel(features, rows)
	require.NoError(t, err)
	return p
}

func r(d, inst string, label float64, x ...float64) dataset.Row {
	return dataset.Row{Datetime: day(d), Instrument: inst, Features: x, Label: label}
}

func TestTrainByHand(t *testing.T) {
	t.Parallel()
	// y = 2 + 3x on x = 1..4. Standardized: mean 2.5, population std s = sqrt(1.25),
	// ZᵀZ = n = 4 and Zᵀ(y-ȳ) = 3·s·4, so w = 12s/(4+α) and coef = w/s = 12/(4+α).
	// With α = 4: coef 1.5, intercept ȳ - 1.5·2.5 = 9.5 - 3.75 = 5.75.
	p := panel(t, []string{"x"},
		r("2020-01-02", "A", 5, 1), r("2020-01-02", "B", 8, 2),
		r("2020-01-03", "A", 11, 3), r("2020-01-03", "B", 14, 4),
		r("2020-01-06", "A", math.NaN(), 10), r("2020-01-06", "B", 0, 20), r("2020-01-06", "C", 5, math.NaN()),
	)
	def := linear.Def{
		Train: linear.Segment{Start: "2020-01-02", End: "2020-01-03"},
		Test:  linear.Segment{Start: "2020-01-06"},
		Alpha: ptr(4),
	}
	res, err := linear.Train(t.Context(), def, p)
	require.NoError(t, err)
	require.Equal(t, []string{"x"}, res.Features)
	require.InDelta(t, 1.5, res.Coef[0], 1e-12)
	require.InDelta(t, 5.75, res.Intercept, 1e-12)
	require.Equal(t, 4, res.Metrics.TrainRows)
	require.InDelta(t, 1, res.Metrics.TrainIC, 1e-12, "a monotone fit ranks each day perfectly")
	require.True(t, math.IsNaN(res.Metrics.ValidIC), "no valid segment")

	// Test: C has a NaN feature and is dropped; A keeps its NaN label.
	require.Len(t, res.Pred.Rows, 2)
	require.True(t, res.Pred.HasLabel)
	require.Equal(t, "A", res.Pred.Rows[0].Instrument)
	require.InDelta(t, 5.75+15, res.Pred.Rows[0].Score, 1e-12)
	require.True(t, math.IsNaN(res.Pred.Rows[0].Label))
	require.InDelta(t, 5.75+30, res.Pred.Rows[1].Score, 1e-12)
	require.Equal(t, 2, res.Metrics.TestRows)
	require.True(t, math.IsNaN(res.Metrics.TestIC), "one labelled row on the test day")

	// α = 0 is ordinary least squares: the exact line.
	def.Alpha = ptr(0)
	res, err = linear.Train(t.Context(), def, p)
	require.NoError(t, err)
	require.InDelta(t, 3, res.Coef[0], 1e-9)
	require.InDelta(t, 2, res.Intercept, 1e-9)

	// Default α = 1: coef 12/5.
	def.Alpha = nil
	res, err = linear.Train(t.Context(), def, p)
	require.NoError(t, err)
	require.InDelta(t, 12.0/5, res.Coef[0], 1e-12)
}

func TestTrainOLSTwoFeatures(t *testing.T) {
	t.Parallel()
	// y = 1 + 2·f0 - 0.5·f1 exactly; f2 is ignored through Features.
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []dataset.Row
	for _, d := range []string{"2020-01-02", "2020-01-03", "2020-01-06"} {
		for _, inst := range []string{"A", "B", "C", "D"} {
			f0, f1, f2 := rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
			rows = append(rows, r(d, inst, 1+2*f0-0.5*f1, f0, f1, f2))
		}
	}
	p := panel(t, []string{"f0", "f1", "f2"}, rows...)
	res, err := linear.Train(t.Context(), linear.Def{
		Train:    linear.Segment{End: "2020-01-03"},
		Valid:    linear.Segment{Start: "2020-01-03", End: "2020-01-03"},
		Test:     linear.Segment{Start: "2020-01-06"},
		Alpha:    ptr(0),
		Features: []string{"f1", "f0"},
	}, p)
	require.NoError(t, err)
	require.Equal(t, []string{"f1", "f0"}, res.Features)
	require.InDelta(t, -0.5, res.Coef[0], 1e-9)
	require.InDelta(t, 2, res.Coef[1], 1e-9)
	require.InDelta(t, 1, res.Intercept, 1e-9)
	require.InDelta(t, 1, res.Metrics.ValidIC, 1e-9)
	require.InDelta(t, 1, res.Metrics.TestIC, 1e-9)
	require.InDelta(t, 1, res.Metrics.TestRankIC, 1e-9)
	require.Equal(t, 4, res.Metrics.ValidRows)
	require.Equal(t, 8, res.Metrics.TrainRows)
}

// synthDef is the window used on the synthetic market: 250 train days, 50
// valid, the rest (100) test.
func synth(t *testing.T) (*dataset.Panel, linear.Def) {
	t.Helper()
	p, err := dataset.Synthetic(dataset.SynthConfig{Instruments: 50, Start: day("2020-01-01"), NumDays: 400, Features: 5, Seed: 7})
	require.NoError(t, err)
	dates := p.Dates()
	f := dataset.FormatDate
	return p, linear.Def{
		Train: linear.Segment{End: f(dates[249])},
		Valid: linear.Segment{Start: f(dates[250]), End: f(dates[299])},
		Test:  linear.Segment{Start: f(dates[300])},
	}
}

func TestSyntheticSignal(t *testing.T) {
	t.Parallel()

	t.Run("PositiveOutOfSampleIC", func(t *testing.T) {
		t.Parallel()
		p, def := synth(t)
		res, err := linear.Train(t.Context(), def, p)
		require.NoError(t, err)
		m := res.Metrics
		t.Logf("metrics: %+v", m)
		require.Equal(t, 50*100, m.TestRows)
		require.GreaterOrEqual(t, m.TestIC, 0.1)
		require.GreaterOrEqual(t, m.TestRankIC, 0.1)
		require.GreaterOrEqual(t, m.ValidIC, 0.1)
		require.Greater(t, m.TestICIR, 0.5)

		// The fit points the way of the planted weights.
		w := dataset.SynthConfig{Features: 5, Seed: 7}.Weights()
		require.Greater(t, collect.Pearson(w, res.Coef), 0.9)

		// Predictions cover exactly the test segment.
		first, _ := res.Pred.MinDatetime()
		require.Equal(t, p.Dates()[300], first)
	})

	t.Run("ShuffledLabelsHaveNoIC", func(t *testing.T) {
		t.Parallel()
		p, def := synth(t)
		rows := make([]dataset.Row, len(p.Rows))
		copy(rows, p.Rows)
		rng := rand.New(rand.NewPCG(99, 99))
		rng.Shuffle(len(rows), func(i, j int) { rows[i].Label, rows[j].Label = rows[j].Label, rows[i].Label })
		shuffled := panel(t, p.Features, rows...)
		res, err := linear.Train(t.Context(), def, shuffled)
		require.NoError(t, err)
		t.Logf("metrics: %+v", res.Metrics)
		require.Less(t, math.Abs(res.Metrics.TestIC), 0.05)
		require.Less(t, math.Abs(res.Metrics.ValidIC), 0.1)
	})
}

func TestTrainErrors(t *testing.T) {
	t.Parallel()
	p := panel(t, []string{"x", "c"},
		r("2020-01-02", "A", 1, 1, 7), r("2020-01-02", "B", 2, 2, 7),
		r("2020-01-03", "A", 3, 3, 7), r("2020-01-03", "B", 4, 4, 7),
	)
	base := linear.Def{Train: linear.Segment{Start: "2020-01-02", End: "2020-01-02"}, Test: linear.Segment{Start: "2020-01-03"}}

	t.Run("UnknownFeature", func(t *testing.T) {
		t.Parallel()
		def := base
		def.Features = []string{"x", "nope"}
		_, err := linear.Train(t.Context(), def, p)
		require.ErrorIs(t, err, linear.ErrBadDef)
		require.ErrorContains(t, err, `dataset.kwargs.features.1: unknown feature "nope"`)
	})

	t.Run("EmptyTrain", func(t *testing.T) {
		t.Parallel()
		def := base
		def.Train = linear.Segment{Start: "2019-01-01", End: "2019-12-31"}
		_, err := linear.Train(t.Context(), def, p)
		require.ErrorIs(t, err, linear.ErrNoData)
	})

	t.Run("SingularWithoutPenalty", func(t *testing.T) {
		t.Parallel()
		def := base
		def.Alpha = ptr(0)
		_, err := linear.Train(t.Context(), def, p) // c is constant
		require.ErrorContains(t, err, "singular")

		def.Alpha = ptr(1) // with a penalty the constant feature just gets 0
		res, err := linear.Train(t.Context(), def, p)
		require.NoError(t, err)
		require.Equal(t, 0.0, res.Coef[1])
	})

	t.Run("InvalidDef", func(t *testing.T) {
		t.Parallel()
		_, err := linear.Train(t.Context(), linear.Def{Train: base.Train}, p)
		require.EqualError(t, err, "linear: bad def: dataset.kwargs.segments.test: missing")
		_, err = linear.Train(t.Context(), base, nil)
		require.ErrorIs(t, err, linear.ErrNoData)
	})

	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := linear.Train(ctx, base, p)
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestDefFromMap(t *testing.T) {
	t.Parallel()

	t.Run("QlibShape", func(t *testing.T) {
		t.Parallel()
		doc := map[string]any{
			"model": map[string]any{"class": "Ridge", "kwargs": map[string]any{"alpha": 0.5}},
			"dataset": map[string]any{"kwargs": map[string]any{
				"segments": map[string]any{
					"train": []any{"2010-01-01", "2014-12-31"},
					"valid": []string{"2015-01-01", "2015-12-31"},
					"test":  []any{time.Date(2016, 1, 4, 0, 0, 0, 0, time.UTC), nil},
				},
				"features": []any{"f0", "f1"},
				"handler":  "ignored",
			}},
			"record": []any{"ignored"},
		}
		def, err := linear.DefFromMap(doc)
		require.NoError(t, err)
		require.Equal(t, linear.Def{
			Train:    linear.Segment{Start: "2010-01-01", End: "2014-12-31"},
			Valid:    linear.Segment{Start: "2015-01-01", End: "2015-12-31"},
			Test:     linear.Segment{Start: "2016-01-04"},
			Alpha:    ptr(0.5),
			Features: []string{"f0", "f1"},
		}, def)
	})

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		def, err := linear.DefFromMap(map[string]any{"dataset": map[string]any{"kwargs": map[string]any{"segments": map[string]any{
			"train": []any{nil, "2014-12-31"}, "test": []any{"2015-01-01", ""}, "valid": nil,
		}}}})
		require.NoError(t, err)
		require.Nil(t, def.Alpha)
		require.Empty(t, def.Features)
		require.True(t, def.Valid.IsZero())
		require.Equal(t, linear.Segment{End: "2014-12-31"}, def.Train)
		def.Alpha = ptr(3)
		def.Features = []string{"a"}
		back, err := linear.DefFromMap(def.Map())
		require.NoError(t, err)
		require.Equal(t, def, back, "Map is the inverse of DefFromMap")
	})

	seg := func(train, test any) map[string]any {
		return map[string]any{"dataset": map[string]any{"kwargs": map[string]any{"segments": map[string]any{"train": train, "test": test}}}}
	}
	ok := []any{"2020-01-01", "2020-06-30"}
	withModel := func(kwargs map[string]any) map[string]any {
		m := seg(ok, ok)
		m["model"] = map[string]any{"kwargs": kwargs}
		return m
	}
	withFeatures := func(f any) map[string]any {
		m := seg(ok, ok)
		m["dataset"].(map[string]any)["kwargs"].(map[string]any)["features"] = f
		return m
	}
	for _, tc := range []struct {
		name string
		in   map[string]any
		want string
	}{
		{"Empty", map[string]any{}, "linear: bad def: dataset.kwargs.segments.train: missing"},
		{"NoTest", seg(ok, nil), "linear: bad def: dataset.kwargs.segments.test: missing"},
		{"ThroughScalar", map[string]any{"dataset": "csi300"}, "linear: bad def: dataset: want a map, got string csi300"},
		{"NotAList", seg("2020-01-01", ok), "linear: bad def: dataset.kwargs.segments.train: want [start, end], got string 2020-01-01"},
		{"ThreeDates", seg([]any{"a", "b", "c"}, ok), "linear: bad def: dataset.kwargs.segments.train: want [start, end], got []interface {} [a b c]"},
		{"NumberDate", seg(ok, []any{"2020-01-01", 2020}), "linear: bad def: dataset.kwargs.segments.test.1: want a date string or null, got int 2020"},
		{"BadDate", seg([]any{"2020-13-01", nil}, ok), `linear: bad def: dataset.kwargs.segments.train: start: bad date "2020-13-01"`},
		{"Reversed", seg([]any{"2020-06-30", "2020-01-01"}, ok), "linear: bad def: dataset.kwargs.segments.train: end 2020-01-01 is before start 2020-06-30"},
		{"BothOpen", seg([]any{nil, nil}, ok), "linear: bad def: dataset.kwargs.segments.train: both ends are open; give at least one date"},
		{"AlphaString", withModel(map[string]any{"alpha": "big"}), "linear: bad def: model.kwargs.alpha: want a number, got string big"},
		{"AlphaNegative", withModel(map[string]any{"alpha": -1}), "linear: bad def: model.kwargs.alpha: want a finite number >= 0, got -1"},
		{"FeaturesNotList", withFeatures("f0"), "linear: bad def: dataset.kwargs.features: want a list of strings, got string"},
		{"FeatureNotString", withFeatures([]any{"f0", 1.5}), "linear: bad def: dataset.kwargs.features.1: want a string, got float64 1.5"},
		{"FeatureRepeated", withFeatures([]any{"f0", "f0"}), `linear: bad def: dataset.kwargs.features.1: empty or repeated feature "f0"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := linear.DefFromMap(tc.in)
			require.ErrorIs(t, err, linear.ErrBadDef)
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestEncoding(t *testing.T) {
	t.Parallel()

	t.Run("DefJSONIsQlibShape", func(t *testing.T) {
		t.Parallel()
		def := linear.Def{
			Train: linear.Segment{Start: "2010-01-01", End: "2014-12-31"},
			Test:  linear.Segment{Start: "2015-01-01"},
			Alpha: ptr(2),
		}
		b, err := json.Marshal(def)
		require.NoError(t, err)
		require.JSONEq(t, `{"model":{"class":"Ridge","kwargs":{"alpha":2}},
			"dataset":{"kwargs":{"segments":{"train":["2010-01-01","2014-12-31"],"test":["2015-01-01",null]}}}}`, string(b))
		var back linear.Def
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, def, back)

		err = json.Unmarshal([]byte(`{"dataset":{}}`), &back)
		require.ErrorIs(t, err, linear.ErrBadDef)
	})

	t.Run("Gob", func(t *testing.T) {
		t.Parallel()
		p, def := synth(t)
		def.Features = []string{"f0", "f3"}
		res, err := linear.Train(t.Context(), def, p)
		require.NoError(t, err)

		var buf bytes.Buffer
		enc := gob.NewEncoder(&buf)
		require.NoError(t, enc.Encode(def))
		require.NoError(t, enc.Encode(res))
		var def2 linear.Def
		var res2 linear.Result
		dec := gob.NewDecoder(&buf)
		require.NoError(t, dec.Decode(&def2))
		require.NoError(t, dec.Decode(&res2))
		require.Equal(t, def, def2)
		require.Equal(t, res.Coef, res2.Coef)
		require.Equal(t, res.Metrics, res2.Metrics)
		require.Equal(t, res.Pred.Len(), res2.Pred.Len())
		require.True(t, res.Pred.Rows[0].Datetime.Equal(res2.Pred.Rows[0].Datetime))
		require.Equal(t, res.Pred.Rows[10].Score, res2.Pred.Rows[10].Score)

		arts := res2.Artifacts()
		require.NotContains(t, arts, "pred", "the predictions travel as an artifact")
		require.Equal(t, res2.Metrics, arts["metrics"])
	})
}

// BenchmarkTrain fits one window of the synthetic market (250 train days of
// 50 instruments, 5 features) and predicts 150 days.
func BenchmarkTrain(b *testing.B) {
	p, err := dataset.Synthetic(dataset.SynthConfig{Instruments: 50, Start: day("2020-01-01"), NumDays: 400, Features: 5, Seed: 7})
	if err != nil {
		b.Fatal(err)
	}
	dates := p.Dates()
	def := linear.Def{
		Train: linear.Segment{End: dataset.FormatDate(dates[249])},
		Valid: linear.Segment{Start: dataset.FormatDate(dates[250]), End: dataset.FormatDate(dates[299])},
		Test:  linear.Segment{Start: dataset.FormatDate(dates[300])},
	}
	for b.Loop() {
		if _, err := linear.Train(b.Context(), def, p); err != nil {
			b.Fatal(err)
		}
	}
}

// Metrics with an IC that could not be computed encode as JSON, the NaN as
// null (`dispatcher get -o json` prints results this way).
func TestMetricsJSONCarriesNaNAsNull(t *testing.T) {
	b, err := json.Marshal(linear.Metrics{TrainIC: 0.5, ValidIC: math.NaN(), TestIC: 0.25, TestRankIC: math.Inf(1), TestRows: 3})
	require.NoError(t, err)
	require.JSONEq(t, `{"TrainIC":0.5,"ValidIC":null,"TestIC":0.25,"TestRankIC":null,"TestICIR":0,"TrainRows":0,"ValidRows":0,"TestRows":3}`, string(b))
}
