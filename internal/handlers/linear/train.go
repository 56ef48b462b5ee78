package linear

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/taskfleet/taskfleet/internal/dataset"
	"github.com/taskfleet/taskfleet/pkg/collect"
)

// Metrics are the information coefficients of one trained window: the mean
// daily IC of each segment's predictions (NaN when a segment is absent or has
// too little data).
type Metrics struct {
	TrainIC    float64 // in-sample
	ValidIC    float64
	TestIC     float64
	TestRankIC float64
	TestICIR   float64

	// Rows used (complete features, and a label where fitting needs one).
	TrainRows, ValidRows, TestRows int
}

// MarshalJSON writes an IC that could not be computed (NaN: no valid
// segment, or too few rows) as null, which JSON can carry.
func (m Metrics) MarshalJSON() ([]byte, error) {
	ic := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		TrainIC, ValidIC, TestIC, TestRankIC, TestICIR *float64
		TrainRows, ValidRows, TestRows                 int
	}{ic(m.TrainIC), ic(m.ValidIC), ic(m.TestIC), ic(m.TestRankIC), ic(m.TestICIR), m.TrainRows, m.ValidRows, m.TestRows})
}

// Result is what the linear kind returns. It is a plain struct, so it can be
// gob-encoded as a task result.
type Result struct {
	// Pred holds the test-segment predictions with their labels: Qlib's
	// pred.pkl plus the label column.
	Pred *collect.Frame

	// Features, Coef and Intercept give the fitted model in the original
	// feature units: score = Intercept + Σ Coef[j]·feature[j].
	Features  []string
	Coef      []float64
	Intercept float64

	Metrics Metrics
}

// Artifacts returns what a task commits as its result: {"metrics":
// Metrics}. The predictions are not in it: the linear kind stores them as
// the task's pred.parquet artifact, where collectors read them.
func (r *Result) Artifacts() map[string]any {
	return map[string]any{"metrics": r.Metrics}
}

// Train fits a ridge regression on def's train segment of ds and predicts the
// valid and test segments.
//
// Features are standardized with the train mean and (population) standard
// deviation; the coefficients solve (ZᵀZ + αI)w = Zᵀ(y - ȳ) by Cholesky, and
// the intercept, left unpenalized, is ȳ. A feature constant over the train
// segment is left unscaled and, with α > 0, gets a zero coefficient. Rows with
// a NaN feature are skipped everywhere; rows with a NaN label are skipped when
// fitting and kept, with their NaN label, in the predictions.
func Train(ctx context.Context, def Def, ds *dataset.Panel) (*Result, error) {
	if err := def.Validate(); err != nil {
		return nil, err
	}
	if ds == nil {
		return nil, fmt.Errorf("%w: no dataset", ErrNoData)
	}
	cols, names, err := featureColumns(def, ds)
	if err != nil {
		return nil, err
	}

	train, err := segment(ds, def.Train, "train")
	if err != nil {
		return nil, err
	}
	m, err := fit(ctx, train, cols, def.alpha())
	if err != nil {
		return nil, err
	}
	res := &Result{Features: names, Coef: m.coef, Intercept: m.intercept}
	res.Metrics.TrainRows = m.rows
	res.Metrics.TrainIC = meanIC(m.predict(train, cols))

	res.Metrics.ValidIC = math.NaN()
	if !def.Valid.IsZero() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		valid, err := segment(ds, def.Valid, "valid")
		if err != nil {
			return nil, err
		}
		vp := m.predict(valid, cols)
		res.Metrics.ValidRows = vp.Len()
		res.Metrics.ValidIC = meanIC(vp)
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	test, err := segment(ds, def.Test, "test")
	if err != nil {
		return nil, err
	}
	res.Pred = m.predict(test, cols)
	res.Metrics.TestRows = res.Pred.Len()
	s, _ := res.Pred.IC() // Pred always has labels
	res.Metrics.TestIC, res.Metrics.TestRankIC, res.Metrics.TestICIR = s.IC, s.RankIC, s.ICIR
	return res, nil
}

func featureColumns(def Def, ds *dataset.Panel) (cols []int, names []string, err error) {
	names = def.Features
	if len(names) == 0 {
		names = ds.Features
	}
	cols = make([]int, len(names))
	for i, n := range names {
		if cols[i] = ds.FeatureIndex(n); cols[i] < 0 {
			return nil, nil, fmt.Errorf("%w: %s.%d: unknown feature %q (the dataset has %v)", ErrBadDef, featuresPath, i, n, ds.Features)
		}
	}
	return cols, slices.Clone(names), nil
}

func segment(ds *dataset.Panel, s Segment, name string) (*dataset.Panel, error) {
	start, end, err := s.Bounds()
	if err != nil { // unreachable after Validate; kept for safety
		return nil, fmt.Errorf("%w: %s.%s: %w", ErrBadDef, segPath, name, err)
	}
	return ds.Between(start, end), nil
}

// model is a fitted ridge regression in original units.
type model struct {
	coef      []float64
	intercept float64
	rows      int
}

// features copies row's selected features into x; false when one is NaN.
func features(r dataset.Row, cols []int, x []float64) bool {
	for j, c := range cols {
		x[j] = r.Features[c]
		if math.IsNaN(x[j]) {
			return false
		}
	}
	return true
}

func fit(ctx context.Context, train *dataset.Panel, cols []int, alpha float64) (*model, error) {
	k := len(cols)
	var xs, ys []float64
	x := make([]float64, k)
	for _, r := range train.Rows {
		if math.IsNaN(r.Label) || !features(r, cols, x) {
			continue
		}
		xs = append(xs, x...)
		ys = append(ys, r.Label)
	}
	n := len(ys)
	if n == 0 {
		return nil, fmt.Errorf("%w: the train segment has no complete rows", ErrNoData)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Standardize with the train moments.
	mean := make([]float64, k)
	scale := make([]float64, k)
	for i := range n {
		for j := range k {
			mean[j] += xs[i*k+j]
		}
	}
	for j := range k {
		mean[j] /= float64(n)
	}
	for i := range n {
		for j := range k {
			d := xs[i*k+j] - mean[j]
			scale[j] += d * d
		}
	}
	for j := range k {
		scale[j] = math.Sqrt(scale[j] / float64(n))
		if scale[j] == 0 {
			scale[j] = 1
		}
	}
	for i := range n {
		for j := range k {
			xs[i*k+j] = (xs[i*k+j] - mean[j]) / scale[j]
		}
	}
	var ybar float64
	for _, y := range ys {
		ybar += y
	}
	ybar /= float64(n)
	yc := make([]float64, n)
	for i, y := range ys {
		yc[i] = y - ybar
	}

	// (ZᵀZ + αI) w = Zᵀ(y - ȳ)
	z := mat.NewDense(n, k, xs)
	var a mat.SymDense
	a.SymOuterK(1, z.T())
	for j := range k {
		a.SetSym(j, j, a.At(j, j)+alpha)
	}
	var b mat.VecDense
	b.MulVec(z.T(), mat.NewVecDense(n, yc))
	var chol mat.Cholesky
	if !chol.Factorize(&a) {
		return nil, fmt.Errorf("linear: the normal equations are singular (alpha %v with a constant or collinear feature?)", alpha)
	}
	var w mat.VecDense
	if err := chol.SolveVecTo(&w, &b); err != nil {
		return nil, fmt.Errorf("linear: solve the normal equations: %w", err)
	}

	m := &model{coef: make([]float64, k), intercept: ybar, rows: n}
	for j := range k {
		m.coef[j] = w.AtVec(j) / scale[j]
		m.intercept -= m.coef[j] * mean[j]
	}
	return m, nil
}

// predict scores every row of p whose features are complete.
func (m *model) predict(p *dataset.Panel, cols []int) *collect.Frame {
	out := &collect.Frame{HasLabel: true, Rows: make([]collect.Row, 0, p.Len())}
	x := make([]float64, len(cols))
	for _, r := range p.Rows {
		if !features(r, cols, x) {
			continue
		}
		s := m.intercept
		for j, v := range x {
			s += m.coef[j] * v
		}
		out.Rows = append(out.Rows, collect.Row{Datetime: r.Datetime, Instrument: r.Instrument, Score: s, Label: r.Label})
	}
	return out
}

func meanIC(f *collect.Frame) float64 {
	s, err := f.IC()
	if err != nil {
		return math.NaN()
	}
	return s.IC
}
