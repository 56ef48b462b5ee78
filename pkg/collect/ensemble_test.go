package collect_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskfleet/taskfleet/pkg/collect"
)

func TestRollingEnsemble(t *testing.T) {
	t.Parallel()

	t.Run("OverlapLaterStartWins", func(t *testing.T) {
		t.Parallel()
		// Keys are deliberately in the opposite order of the windows: the
		// order comes from each frame's first datetime, never from the key.
		early := frame(
			row("2020-01-02", "A", 1), row("2020-01-02", "B", 1),
			row("2020-01-03", "A", 1), row("2020-01-03", "B", 1),
			row("2020-01-06", "A", 1),
		)
		late := frame(
			row("2020-01-03", "B", 2), // overlaps early: late wins
			row("2020-01-06", "A", 2), // overlaps early: late wins
			row("2020-01-07", "A", 2),
		)
		c := collect.Collection{collect.StrKey("z-early"): early, collect.StrKey("a-late"): late}
		got, err := collect.RollingEnsemble{}.Frame(c)
		require.NoError(t, err)
		requireScores(t, []scored{
			{"2020-01-02", "A", 1}, {"2020-01-02", "B", 1},
			{"2020-01-03", "A", 1}, {"2020-01-03", "B", 2},
			{"2020-01-06", "A", 2},
			{"2020-01-07", "A", 2},
		}, got)
		require.False(t, got.HasLabel)
		require.Equal(t, 5, early.Len(), "inputs are not modified")
	})

	t.Run("UnsortedRowsInsideWindow", func(t *testing.T) {
		t.Parallel()
		// The window order uses the minimum datetime, not the first row.
		w1 := frame(row("2020-01-05", "A", 1), row("2020-01-01", "A", 1))
		w2 := frame(row("2020-01-03", "A", 2), row("2020-01-05", "A", 2))
		got, err := collect.RollingEnsemble{}.Frame(collect.Collection{collect.StrKey("1"): w1, collect.StrKey("2"): w2})
		require.NoError(t, err)
		requireScores(t, []scored{{"2020-01-01", "A", 1}, {"2020-01-03", "A", 2}, {"2020-01-05", "A", 2}}, got)
	})

	t.Run("DuplicatesInsideOneWindowKeepLast", func(t *testing.T) {
		t.Parallel()
		w := frame(row("2020-01-01", "A", 1), row("2020-01-01", "A", 7))
		got, err := collect.RollingEnsemble{}.Frame(collect.Collection{collect.StrKey("w"): w})
		require.NoError(t, err)
		requireScores(t, []scored{{"2020-01-01", "A", 7}}, got)
	})

	t.Run("SameStartTieBrokenByKey", func(t *testing.T) {
		t.Parallel()
		a := frame(row("2020-01-01", "A", 1))
		b := frame(row("2020-01-01", "A", 2))
		got, err := collect.RollingEnsemble{}.Frame(collect.Collection{collect.StrKey("b"): b, collect.StrKey("a"): a})
		require.NoError(t, err)
		requireScores(t, []scored{{"2020-01-01", "A", 2}}, got)
	})

	t.Run("SingleKey", func(t *testing.T) {
		t.Parallel()
		w := frame(row("2020-01-02", "B", 2), row("2020-01-01", "A", 1))
		got, err := collect.RollingEnsemble{}.Frame(collect.Collection{collect.StrKey("only"): w})
		require.NoError(t, err)
		requireScores(t, []scored{{"2020-01-01", "A", 1}, {"2020-01-02", "B", 2}}, got)
	})

	t.Run("EmptyFramesAndLabels", func(t *testing.T) {
		t.Parallel()
		labeled := lframe(lrow("2020-01-01", "A", 1, 0.5))
		unlabeled := frame(row("2020-01-02", "A", 2))
		empty := &collect.Frame{}
		got, err := collect.RollingEnsemble{}.Frame(collect.Collection{
			collect.StrKey("1"): labeled, collect.StrKey("2"): empty, collect.StrKey("3"): *unlabeled,
		})
		require.NoError(t, err)
		require.True(t, got.HasLabel)
		require.Equal(t, 0.5, got.Rows[0].Label)
		require.True(t, math.IsNaN(got.Rows[1].Label), "a row from an unlabeled frame has a NaN label")

		got, err = collect.RollingEnsemble{}.Frame(collect.Collection{collect.StrKey("e"): empty})
		require.NoError(t, err)
		require.Equal(t, 0, got.Len())
	})

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		_, err := collect.RollingEnsemble{}.Frame(collect.Collection{})
		require.ErrorIs(t, err, collect.ErrEmpty)

		_, err = collect.RollingEnsemble{}.Frame(collect.Collection{collect.StrKey("x"): collect.Collection{}})
		require.ErrorIs(t, err, collect.ErrNotFrame)
		require.ErrorContains(t, err, "key (x)")

		_, err = collect.RollingEnsemble{}.Process(t.Context(), frame())
		require.ErrorIs(t, err, collect.ErrNotCollection)
	})

	t.Run("LogsKeys", func(t *testing.T) {
		t.Parallel()
		core, logs := observer.New(zapcore.DebugLevel)
		_, err := collect.RollingEnsemble{Logger: zap.New(core)}.Combine(collect.Collection{collect.StrKey("w1"): frame()})
		require.NoError(t, err)
		require.Equal(t, 1, logs.FilterMessage("rolling ensemble").Len())
	})
}

func TestAverageEnsemble(t *testing.T) {
	t.Parallel()

	t.Run("ZScoreByHand", func(t *testing.T) {
		t.Parallel()
		// 2020-01-02: model a scores 1, 2, 3: mean 2, sample std 1, z = -1, 0, 1.
		//             model b scores 10, 30, 20: mean 20, std 10, z = -1, 1, 0.
		//             average: A -1, B 0.5, C 0.5.
		// 2020-01-03: model a scores A 4, B 8: mean 6, std sqrt(8), z = ∓1/sqrt(2).
		//             model b has only A: std is NaN, so b adds nothing that day.
		//             C appears only in b: its average is NaN (no z-score).
		a := frame(
			row("2020-01-02", "A", 1), row("2020-01-02", "B", 2), row("2020-01-02", "C", 3),
			row("2020-01-03", "B", 8), row("2020-01-03", "A", 4),
		)
		b := frame(
			row("2020-01-02", "A", 10), row("2020-01-02", "B", 30), row("2020-01-02", "C", 20),
			row("2020-01-03", "C", 5),
		)
		got, err := collect.AverageEnsemble{}.Frame(collect.Collection{collect.StrKey("a"): a, collect.StrKey("b"): b})
		require.NoError(t, err)
		requireScores(t, []scored{
			{"2020-01-02", "A", -1}, {"2020-01-02", "B", 0.5}, {"2020-01-02", "C", 0.5},
			{"2020-01-03", "A", -1 / math.Sqrt2}, {"2020-01-03", "B", 1 / math.Sqrt2}, {"2020-01-03", "C", math.NaN()},
		}, got)
	})

	t.Run("NestedIsFlattened", func(t *testing.T) {
		t.Parallel()
		// z-scores: a (1, 3) -> (-1/√2, 1/√2); b (5, 1) -> (1/√2, -1/√2); c (0, 10) -> (-1/√2, 1/√2).
		// Means: A = -1/(3√2), B = 1/(3√2).
		a := frame(row("2020-01-02", "A", 1), row("2020-01-02", "B", 3))
		b := frame(row("2020-01-02", "A", 5), row("2020-01-02", "B", 1))
		c := frame(row("2020-01-02", "A", 0), row("2020-01-02", "B", 10))
		nested := collect.Collection{
			collect.StrKey("lgb"):    collect.Collection{collect.StrKey("r1"): a, collect.StrKey("r2"): b},
			collect.StrKey("linear"): c,
		}
		got, err := collect.AverageEnsemble{}.Frame(nested)
		require.NoError(t, err)
		requireScores(t, []scored{
			{"2020-01-02", "A", -1 / (3 * math.Sqrt2)}, {"2020-01-02", "B", 1 / (3 * math.Sqrt2)},
		}, got)
	})

	t.Run("SingleModelIsZScored", func(t *testing.T) {
		t.Parallel()
		a := frame(row("2020-01-02", "A", 10), row("2020-01-02", "B", 20), row("2020-01-02", "C", 60))
		// mean 30, deviations -20, -10, 30, sample std sqrt(1400/2) = sqrt(700).
		got, err := collect.AverageEnsemble{}.Frame(collect.Collection{collect.StrKey("a"): a})
		require.NoError(t, err)
		s := math.Sqrt(700)
		requireScores(t, []scored{{"2020-01-02", "A", -20 / s}, {"2020-01-02", "B", -10 / s}, {"2020-01-02", "C", 30 / s}}, got)
	})

	t.Run("NaNScoresSkipped", func(t *testing.T) {
		t.Parallel()
		a := frame(row("2020-01-02", "A", 1), row("2020-01-02", "B", math.NaN()), row("2020-01-02", "C", 3))
		got, err := collect.AverageEnsemble{}.Frame(collect.Collection{collect.StrKey("a"): a})
		require.NoError(t, err)
		requireScores(t, []scored{{"2020-01-02", "A", -1 / math.Sqrt2}, {"2020-01-02", "B", math.NaN()}, {"2020-01-02", "C", 1 / math.Sqrt2}}, got)
	})

	t.Run("LabelsCarried", func(t *testing.T) {
		t.Parallel()
		a := frame(row("2020-01-02", "A", 1), row("2020-01-02", "B", 2))
		b := lframe(lrow("2020-01-02", "A", 1, 0.1), lrow("2020-01-02", "B", 2, 0.2))
		got, err := collect.AverageEnsemble{}.Frame(collect.Collection{collect.StrKey("a"): a, collect.StrKey("b"): b})
		require.NoError(t, err)
		require.True(t, got.HasLabel)
		require.Equal(t, []float64{0.1, 0.2}, []float64{got.Rows[0].Label, got.Rows[1].Label})
	})

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		_, err := collect.AverageEnsemble{}.Frame(collect.Collection{})
		require.ErrorIs(t, err, collect.ErrEmpty)
		_, err = collect.AverageEnsemble{}.Frame(collect.Collection{collect.StrKey("a"): collect.Collection{}})
		require.ErrorIs(t, err, collect.ErrEmpty, "nested but without frames")
		_, err = collect.AverageEnsemble{}.Frame(collect.Collection{collect.StrKey("a"): collect.Collection{collect.StrKey("b"): 3}})
		require.ErrorIs(t, err, collect.ErrNotFrame)
		require.ErrorContains(t, err, "key (a, b)")
		dup := frame(row("2020-01-02", "A", 1), row("2020-01-02", "A", 2))
		_, err = collect.AverageEnsemble{}.Frame(collect.Collection{collect.StrKey("a"): dup})
		require.ErrorIs(t, err, collect.ErrDuplicateRow)
		_, err = collect.AverageEnsemble{}.Process(t.Context(), 3)
		require.ErrorIs(t, err, collect.ErrNotCollection)
	})
}

func TestSingleKeyEnsemble(t *testing.T) {
	t.Parallel()
	k := collect.StrKey
	for _, tc := range []struct {
		name string
		e    collect.SingleKeyEnsemble
		in   any
		want any
	}{
		{"NotACollection", collect.SingleKeyEnsemble{}, 42, 42},
		{"Empty", collect.SingleKeyEnsemble{}, collect.Collection{}, collect.Collection{}},
		{"OneKey", collect.SingleKeyEnsemble{}, collect.Collection{k("a"): 1}, 1},
		{"TwoKeys", collect.SingleKeyEnsemble{}, collect.Collection{k("a"): 1, k("b"): 2}, collect.Collection{k("a"): 1, k("b"): 2}},
		{
			"Recursive", collect.SingleKeyEnsemble{},
			collect.Collection{k("a"): collect.Collection{k("x"): 1}, k("b"): collect.Collection{k("y"): collect.Collection{k("z"): 2}}},
			collect.Collection{k("a"): 1, k("b"): 2},
		},
		{
			"RecursiveThenOuter", collect.SingleKeyEnsemble{},
			collect.Collection{k("a"): collect.Collection{k("x"): 1, k("y"): 2}},
			collect.Collection{k("x"): 1, k("y"): 2},
		},
		{
			"NoRecursion", collect.SingleKeyEnsemble{NoRecursion: true},
			collect.Collection{k("a"): collect.Collection{k("x"): 1}},
			collect.Collection{k("x"): 1},
		},
		{
			"NoRecursionKeepsInner", collect.SingleKeyEnsemble{NoRecursion: true},
			collect.Collection{k("a"): collect.Collection{k("x"): 1}, k("b"): 2},
			collect.Collection{k("a"): collect.Collection{k("x"): 1}, k("b"): 2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.e.Unwrap(tc.in))
			got, err := tc.e.Process(t.Context(), tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestGroup(t *testing.T) {
	t.Parallel()
	k := collect.StrKey
	// count reduces a group to its size.
	count := collect.EnsembleFunc(func(c collect.Collection) (any, error) { return len(c), nil })

	t.Run("CustomGroupFunc", func(t *testing.T) {
		t.Parallel()
		byFirst := func(c collect.Collection) (map[collect.Key]collect.Collection, error) {
			out := map[collect.Key]collect.Collection{}
			for key, v := range c {
				g := key.Slice(0, 1)
				if out[g] == nil {
					out[g] = collect.Collection{}
				}
				out[g][key] = v
			}
			return out, nil
		}
		in := collect.Collection{k("a", "1"): 0, k("a", "2"): 0, k("b", "1"): 0}
		for _, conc := range []int{0, 1, 4} {
			got, err := collect.Group{GroupFunc: byFirst, Ensemble: count, Concurrency: conc}.Apply(t.Context(), in)
			require.NoError(t, err)
			require.Equal(t, collect.Collection{k("a"): 2, k("b"): 1}, got, "concurrency %d", conc)
		}
	})

	t.Run("NotConfigured", func(t *testing.T) {
		t.Parallel()
		_, err := collect.Group{Ensemble: count}.Apply(t.Context(), collect.Collection{})
		require.ErrorIs(t, err, collect.ErrNotConfigured)
		_, err = collect.Group{GroupFunc: collect.GroupByPrefix}.Apply(t.Context(), collect.Collection{})
		require.ErrorIs(t, err, collect.ErrNotConfigured)
	})

	t.Run("EnsembleErrorNamesGroup", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("boom")
		fail := collect.EnsembleFunc(func(collect.Collection) (any, error) { return nil, boom })
		_, err := collect.Group{GroupFunc: collect.GroupByPrefix, Ensemble: fail}.Apply(t.Context(), collect.Collection{k("m", "r"): 1})
		require.ErrorIs(t, err, boom)
		require.ErrorContains(t, err, "group (m)")
	})

	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := collect.Group{GroupFunc: collect.GroupByPrefix, Ensemble: count}.Apply(ctx, collect.Collection{k("m", "r"): 1})
		require.ErrorIs(t, err, context.Canceled)
	})

	t.Run("ProcessNeedsCollection", func(t *testing.T) {
		t.Parallel()
		_, err := collect.Group{GroupFunc: collect.GroupByPrefix, Ensemble: count}.Process(t.Context(), "x")
		require.ErrorIs(t, err, collect.ErrNotCollection)
	})
}

func TestRollingGroup(t *testing.T) {
	t.Parallel()
	k := collect.StrKey

	t.Run("GroupByAllButLast", func(t *testing.T) {
		t.Parallel()
		in := collect.Collection{k("A", "B", "R1"): 1, k("A", "B", "R2"): 2, k("A", "C", "R1"): 3}
		got, err := collect.GroupByPrefix(in)
		require.NoError(t, err)
		require.Equal(t, map[collect.Key]collect.Collection{
			k("A", "B"): {k("R1"): 1, k("R2"): 2},
			k("A", "C"): {k("R1"): 3},
		}, got)
	})

	t.Run("SingleElementKeysGroupUnderEmptyKey", func(t *testing.T) {
		t.Parallel()
		got, err := collect.GroupByPrefix(collect.Collection{k("R1"): 1, k("R2"): 2})
		require.NoError(t, err)
		require.Equal(t, map[collect.Key]collect.Collection{{}: {k("R1"): 1, k("R2"): 2}}, got)
	})

	t.Run("EmptyKey", func(t *testing.T) {
		t.Parallel()
		_, err := collect.RollingGroup{}.Apply(t.Context(), collect.Collection{{}: frame()})
		require.ErrorIs(t, err, collect.ErrBadKey)
	})

	t.Run("StitchesEachSeries", func(t *testing.T) {
		t.Parallel()
		in := collect.Collection{
			collect.MustKey("Linear", []string{"2020-01-01", "2020-01-03"}): frame(row("2020-01-02", "A", 1), row("2020-01-03", "A", 1)),
			collect.MustKey("Linear", []string{"2020-01-03", "2020-01-06"}): frame(row("2020-01-03", "A", 2), row("2020-01-06", "A", 2)),
			collect.MustKey("LGB", []string{"2020-01-01", "2020-01-03"}):    frame(row("2020-01-02", "A", 9)),
		}
		out, err := collect.RollingGroup{Concurrency: 2}.Process(t.Context(), in)
		require.NoError(t, err)
		got := out.(collect.Collection)
		require.Len(t, got, 2)
		requireScores(t, []scored{{"2020-01-02", "A", 1}, {"2020-01-03", "A", 2}, {"2020-01-06", "A", 2}},
			got[k("Linear")].(*collect.Frame))
		requireScores(t, []scored{{"2020-01-02", "A", 9}}, got[k("LGB")].(*collect.Frame))
	})

	t.Run("CustomEnsemble", func(t *testing.T) {
		t.Parallel()
		in := collect.Collection{k("m", "r1"): frame(row("2020-01-02", "A", 1), row("2020-01-02", "B", 3))}
		got, err := collect.RollingGroup{Ensemble: collect.AverageEnsemble{}}.Apply(t.Context(), in)
		require.NoError(t, err)
		requireScores(t, []scored{{"2020-01-02", "A", -1 / math.Sqrt2}, {"2020-01-02", "B", 1 / math.Sqrt2}},
			got[k("m")].(*collect.Frame))
	})

	t.Run("ProcessNeedsCollection", func(t *testing.T) {
		t.Parallel()
		_, err := collect.RollingGroup{}.Process(t.Context(), frame())
		require.ErrorIs(t, err, collect.ErrNotCollection)

		// A plain map[Key]any is a collection too.
		plain := map[collect.Key]any{k("m", "r1"): frame(row("2020-01-02", "A", 1))}
		out, err := collect.RollingGroup{}.Process(t.Context(), plain)
		require.NoError(t, err)
		require.Len(t, out.(collect.Collection), 1)
	})
}

// BenchmarkRollingEnsemble stitches 24 monthly windows of 300 instruments.
func BenchmarkRollingEnsemble(b *testing.B) {
	c := collect.Collection{}
	base := day("2020-01-01")
	for w := range 24 {
		f := &collect.Frame{}
		for d := range 40 { // windows overlap by about ten days
			for i := range 300 {
				f.Rows = append(f.Rows, collect.Row{Datetime: base.AddDate(0, 0, 30*w+d), Instrument: fmt.Sprintf("S%04d", i), Score: float64(w)})
			}
		}
		c[collect.MustKey("Linear", w)] = f
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := (collect.RollingEnsemble{}).Frame(c); err != nil {
			b.Fatal(err)
		}
	}
}
