package collect

import (
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat"
)

// Pearson returns the Pearson correlation of x and y over the pairs where
// neither is NaN. It is NaN with fewer than two pairs or when either side is
// constant (pandas Series.corr). x and y must have the same length.
func Pearson(x, y []float64) float64 {
	x, y = dropNaNPairs(x, y)
	return pearson(x, y)
}

func pearson(x, y []float64) float64 {
	if len(x) < 2 {
		return math.NaN()
	}
	return stat.Correlation(x, y, nil)
}

// Spearman returns the Spearman rank correlation of x and y over the pairs where
// neither is NaN: the Pearson correlation of their ranks, with tied values given
// their average rank (pandas corr(method="spearman")).
func Spearman(x, y []float64) float64 {
	x, y = dropNaNPairs(x, y)
	return pearson(Rank(x), Rank(y))
}

// Rank returns the 1-based ranks of x, giving tied values the average of the
// ranks they span: Rank([10, 20, 20, 30]) is [1, 2.5, 2.5, 4]. NaN values get
// NaN.
func Rank(x []float64) []float64 {
	idx := make([]int, 0, len(x))
	ranks := make([]float64, len(x))
	for i, v := range x {
		if math.IsNaN(v) {
			ranks[i] = math.NaN()
			continue
		}
		idx = append(idx, i)
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case x[a] < x[b]:
			return -1
		case x[a] > x[b]:
			return 1
		}
		return 0
	})
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && x[idx[j]] == x[idx[i]] {
			j++
		}
		// Positions i..j-1 hold ranks i+1..j; their average is (i+1+j)/2.
		avg := float64(i+1+j) / 2
		for _, k := range idx[i:j] {
			ranks[k] = avg
		}
		i = j
	}
	return ranks
}

func dropNaNPairs(x, y []float64) ([]float64, []float64) {
	if len(x) != len(y) {
		panic(fmt.Sprintf("collect: correlation of slices of different lengths %d and %d", len(x), len(y)))
	}
	var xs, ys []float64
	for i := range x {
		if !math.IsNaN(x[i]) && !math.IsNaN(y[i]) {
			xs = append(xs, x[i])
			ys = append(ys, y[i])
		}
	}
	return xs, ys
}

// DailyIC is the information coefficient of one datetime.
type DailyIC struct {
	Datetime time.Time
	// N is the number of rows whose score and label are both not NaN.
	N int
	// IC is the Pearson correlation of score and label across instruments.
	IC float64
	// RankIC is the Spearman correlation of score and label.
	RankIC float64
}

// ICSummary holds the daily ICs of a frame and their statistics (Qlib's
// calc_ic and the IC, ICIR, Rank IC and Rank ICIR of SigAnaRecord). Days with
// a NaN IC (fewer than two rows, a constant score or label) are skipped by the
// statistics, as pandas skips NaN; the standard deviations are sample ones
// (n-1). A statistic with too few days is NaN.
type ICSummary struct {
	Daily []DailyIC

	IC    float64 // mean daily IC
	ICStd float64 // standard deviation of the daily IC
	ICIR  float64 // IC / ICStd

	RankIC    float64 // mean daily rank IC
	RankICStd float64 // standard deviation of the daily rank IC
	RankICIR  float64 // RankIC / RankICStd
}

// IC computes the daily IC and rank IC of f and their statistics. f must have
// labels (ErrNoLabel otherwise); f is not modified.
func (f *Frame) IC() (ICSummary, error) {
	if f == nil || !f.HasLabel {
		return ICSummary{}, ErrNoLabel
	}
	rows := slices.Clone(f.Rows)
	slices.SortStableFunc(rows, func(a, b Row) int { return a.Datetime.Compare(b.Datetime) })
	var s ICSummary
	var scores, labels []float64
	groupByDatetime(rows, func(dt time.Time, day []Row) {
		scores, labels = scores[:0], labels[:0]
		for _, r := range day {
			if !math.IsNaN(r.Score) && !math.IsNaN(r.Label) {
				scores = append(scores, r.Score)
				labels = append(labels, r.Label)
			}
		}
		s.Daily = append(s.Daily, DailyIC{
			Datetime: dt,
			N:        len(scores),
			IC:       pearson(scores, labels),
			RankIC:   pearson(Rank(scores), Rank(labels)),
		})
	})
	ics := make([]float64, len(s.Daily))
	rics := make([]float64, len(s.Daily))
	for i, d := range s.Daily {
		ics[i], rics[i] = d.IC, d.RankIC
	}
	s.IC, s.ICStd = nanMeanStd(ics)
	s.RankIC, s.RankICStd = nanMeanStd(rics)
	s.ICIR = s.IC / s.ICStd
	s.RankICIR = s.RankIC / s.RankICStd
	return s, nil
}

// nanMeanStd returns the mean and sample standard deviation of the values that
// are not NaN: NaN mean for none, NaN std for fewer than two.
func nanMeanStd(x []float64) (mean, std float64) {
	vals := make([]float64, 0, len(x))
	for _, v := range x {
		if !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	switch len(vals) {
	case 0:
		return math.NaN(), math.NaN()
	case 1:
		return vals[0], math.NaN()
	}
	return stat.MeanStdDev(vals, nil)
}
