package collect_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/collect"
)

func TestPearsonSpearman(t *testing.T) {
	t.Parallel()

	t.Run("PearsonByHand", func(t *testing.T) {
		t.Parallel()
		// x = 1..4, y = 2, 4, 5, 9: deviations (-1.5, -.5, .5, 1.5) and (-3, -1, 0, 4),
		// Sxy = 11, Sxx = 5, Syy = 26, r = 11 / sqrt(130).
		require.InDelta(t, 11/math.Sqrt(130), collect.Pearson([]float64{1, 2, 3, 4}, []float64{2, 4, 5, 9}), 1e-12)
		require.InDelta(t, -1, collect.Pearson([]float64{1, 2, 3}, []float64{3, 2, 1}), 1e-12)
	})

	t.Run("NaNPairsDropped", func(t *testing.T) {
		t.Parallel()
		nan := math.NaN()
		require.InDelta(t, 11/math.Sqrt(130),
			collect.Pearson([]float64{1, nan, 2, 3, 4, 5}, []float64{2, 7, 4, 5, 9, nan}), 1e-12)
	})

	t.Run("Undefined", func(t *testing.T) {
		t.Parallel()
		require.True(t, math.IsNaN(collect.Pearson(nil, nil)))
		require.True(t, math.IsNaN(collect.Pearson([]float64{1}, []float64{2})))
		require.True(t, math.IsNaN(collect.Pearson([]float64{1, 1, 1}, []float64{1, 2, 3})), "constant side")
		require.True(t, math.IsNaN(collect.Spearman([]float64{5, 5}, []float64{1, 2})))
		require.Panics(t, func() { collect.Pearson([]float64{1}, nil) })
	})

	t.Run("RankAveragesTies", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, []float64{1, 2.5, 2.5, 4}, collect.Rank([]float64{10, 20, 20, 30}))
		require.Equal(t, []float64{4, 2, 2, 2}, collect.Rank([]float64{9, 1, 1, 1}))
		got := collect.Rank([]float64{3, math.NaN(), 1})
		require.Equal(t, 2.0, got[0])
		require.True(t, math.IsNaN(got[1]))
		require.Equal(t, 1.0, got[2])
	})

	t.Run("SpearmanWithTiesByHand", func(t *testing.T) {
		t.Parallel()
		// ranks x = 1, 2.5, 2.5, 4; ranks y = 1, 3, 2, 4; deviations (-1.5, 0, 0, 1.5)
		// and (-1.5, .5, -.5, 1.5): Sxy = 4.5, Sxx = 4.5, Syy = 5, rho = 4.5 / sqrt(22.5) = sqrt(0.9).
		require.InDelta(t, math.Sqrt(0.9), collect.Spearman([]float64{1, 2, 2, 3}, []float64{1, 3, 2, 4}), 1e-12)
		// Monotonic but not linear: Spearman is exactly 1.
		require.InDelta(t, 1, collect.Spearman([]float64{1, 2, 3, 4}, []float64{1, 10, 100, 1000}), 1e-12)
	})
}

func TestFrameIC(t *testing.T) {
	t.Parallel()

	f := lframe(
		// Day 1: labels equal scores: IC 1, rank IC 1.
		lrow("2020-01-02", "A", 1, 1), lrow("2020-01-02", "B", 2, 2), lrow("2020-01-02", "C", 3, 3),
		// Day 2: labels 30, 1, 2. Deviations of labels from 11: 19, -10, -9, so
		// Sxy = -28, Sxx = 2, Syy = 542: IC = -28/sqrt(1084). Label ranks 3, 1, 2: rank IC = -0.5.
		lrow("2020-01-03", "C", 3, 2), lrow("2020-01-03", "A", 1, 30), lrow("2020-01-03", "B", 2, 1),
		// Day 3: one usable row (B's label is NaN): NaN, skipped by the statistics.
		lrow("2020-01-06", "A", 1, 5), lrow("2020-01-06", "B", 2, math.NaN()),
	)
	s, err := f.IC()
	require.NoError(t, err)
	require.Len(t, s.Daily, 3)

	ic2 := -28 / math.Sqrt(1084)
	require.Equal(t, day("2020-01-02"), s.Daily[0].Datetime)
	require.Equal(t, 3, s.Daily[0].N)
	require.InDelta(t, 1, s.Daily[0].IC, 1e-12)
	require.InDelta(t, 1, s.Daily[0].RankIC, 1e-12)
	require.InDelta(t, ic2, s.Daily[1].IC, 1e-12)
	require.InDelta(t, -0.5, s.Daily[1].RankIC, 1e-12)
	require.Equal(t, 1, s.Daily[2].N)
	require.True(t, math.IsNaN(s.Daily[2].IC))

	// Two days count: mean, sample std (n-1) and their ratio.
	mean := (1 + ic2) / 2
	std := math.Sqrt(((1-mean)*(1-mean) + (ic2-mean)*(ic2-mean)) / 1)
	require.InDelta(t, mean, s.IC, 1e-12)
	require.InDelta(t, std, s.ICStd, 1e-12)
	require.InDelta(t, mean/std, s.ICIR, 1e-12)
	// Rank IC: 1 and -0.5: mean 0.25, std sqrt(2 * 0.75^2) = 0.75 * sqrt(2).
	require.InDelta(t, 0.25, s.RankIC, 1e-12)
	require.InDelta(t, 0.75*math.Sqrt2, s.RankICStd, 1e-12)
	require.InDelta(t, 0.25/(0.75*math.Sqrt2), s.RankICIR, 1e-12)

	t.Run("TiesInRankIC", func(t *testing.T) {
		t.Parallel()
		f := lframe(lrow("2020-01-02", "A", 1, 1), lrow("2020-01-02", "B", 2, 3), lrow("2020-01-02", "C", 2, 2), lrow("2020-01-02", "D", 3, 4))
		s, err := f.IC()
		require.NoError(t, err)
		require.InDelta(t, math.Sqrt(0.9), s.RankIC, 1e-12)
		require.True(t, math.IsNaN(s.RankICStd), "one day has no standard deviation")
		require.True(t, math.IsNaN(s.RankICIR))
	})

	t.Run("NoLabel", func(t *testing.T) {
		t.Parallel()
		_, err := frame(row("2020-01-02", "A", 1)).IC()
		require.ErrorIs(t, err, collect.ErrNoLabel)
	})

	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		s, err := lframe().IC()
		require.NoError(t, err)
		require.Empty(t, s.Daily)
		require.True(t, math.IsNaN(s.IC))
	})
}
