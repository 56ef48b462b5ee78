package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// SynthConfig configures Synthetic. The zero value of each field selects its
// default, except that some trading days must be given.
type SynthConfig struct {
	// Instruments is the number of instruments, named S0000, S0001, ...
	// Defaults to 50.
	Instruments int

	// Days are the trading days. When empty, NumDays business days (Monday to
	// Friday) from Start are used.
	Days []time.Time

	// Start is the first business day when Days is empty; a weekend start
	// moves to the next Monday.
	Start time.Time

	// NumDays is the number of business days when Days is empty.
	NumDays int

	// Features is the number of features, named f0, f1, ... Defaults to 5.
	Features int

	// Seed selects the random stream. The same config always gives the same
	// panel.
	Seed uint64

	// SNR is the signal-to-noise ratio: the variance of w·x over the variance
	// of the noise. The correlation of the true signal with the label, the
	// best achievable IC, is sqrt(SNR / (1 + SNR)). Defaults to 0.05 (about
	// 0.22).
	SNR float64
}

func (c SynthConfig) withDefaults() SynthConfig {
	if c.Instruments == 0 {
		c.Instruments = 50
	}
	if c.Features == 0 {
		c.Features = 5
	}
	if c.SNR == 0 {
		c.SNR = 0.05
	}
	return c
}

// Synthetic generates a deterministic market panel with a planted linear
// signal. Each feature value is an independent standard normal draw; the
// weights w are drawn once per seed and scaled to unit length, so w·x has
// variance 1; and
//
//	label = w·x + noise,  noise ~ N(0, 1/SNR)
//
// so a model that recovers w has a clearly positive out-of-sample IC, and one
// fit on shuffled labels has none. Weights returns w.
func Synthetic(cfg SynthConfig) (*Panel, error) {
	cfg = cfg.withDefaults()
	switch {
	case cfg.Instruments < 0:
		return nil, fmt.Errorf("%w: synthetic: Instruments %d < 0", ErrInvalid, cfg.Instruments)
	case cfg.Features < 0:
		return nil, fmt.Errorf("%w: synthetic: Features %d < 0", ErrInvalid, cfg.Features)
	case cfg.SNR < 0 || math.IsNaN(cfg.SNR) || math.IsInf(cfg.SNR, 0):
		return nil, fmt.Errorf("%w: synthetic: SNR %v must be positive and finite", ErrInvalid, cfg.SNR)
	}
	days, err := cfg.tradingDays()
	if err != nil {
		return nil, err
	}

	rng := cfg.rng()
	w := weights(rng, cfg.Features)
	noiseStd := math.Sqrt(1 / cfg.SNR)

	features := make([]string, cfg.Features)
	for j := range features {
		features[j] = fmt.Sprintf("f%d", j)
	}
	instruments := make([]string, cfg.Instruments)
	for i := range instruments {
		instruments[i] = fmt.Sprintf("S%04d", i)
	}

	n := len(days) * cfg.Instruments
	values := make([]float64, n*cfg.Features) // one backing array for every row
	rows := make([]Row, 0, n)
	for _, d := range days {
		for _, inst := range instruments {
			x := values[:cfg.Features:cfg.Features]
			values = values[cfg.Features:]
			signal := 0.0
			for j := range x {
				x[j] = rng.NormFloat64()
				signal += w[j] * x[j]
			}
			rows = append(rows, Row{
				Datetime:   d,
				Instrument: inst,
				Features:   x,
				Label:      signal + noiseStd*rng.NormFloat64(),
			})
		}
	}
	return NewPanel(features, rows)
}

// Weights returns the planted weights w of the panel Synthetic(cfg) generates.
func (c SynthConfig) Weights() []float64 {
	c = c.withDefaults()
	return weights(c.rng(), c.Features)
}

func (c SynthConfig) rng() *rand.Rand {
	// PCG is specified exactly, so a seed gives the same stream in every Go
	// release.
	return rand.New(rand.NewPCG(c.Seed, 0x7461736b666c6565)) // "taskflee"
}

func weights(rng *rand.Rand, k int) []float64 {
	w := make([]float64, k)
	var norm float64
	for j := range w {
		w[j] = rng.NormFloat64()
		norm += w[j] * w[j]
	}
	norm = math.Sqrt(norm)
	for j := range w {
		w[j] /= norm
	}
	return w
}

func (c SynthConfig) tradingDays() ([]time.Time, error) {
	if len(c.Days) > 0 {
		days := slices.Clone(c.Days)
		slices.SortFunc(days, time.Time.Compare)
		for i := 1; i < len(days); i++ {
			if days[i].Equal(days[i-1]) {
				return nil, fmt.Errorf("%w: synthetic: day %s appears twice", ErrInvalid, FormatDate(days[i]))
			}
		}
		return days, nil
	}
	if c.NumDays <= 0 || c.Start.IsZero() {
		return nil, fmt.Errorf("%w: synthetic: give Days, or Start and NumDays > 0", ErrInvalid)
	}
	return BusinessDays(c.Start, c.NumDays), nil
}

// BusinessDays returns n weekdays (Monday to Friday) starting at start, or at
// the next Monday when start is on a weekend. Holidays are not skipped. Each
// day is a midnight UTC.
func BusinessDays(start time.Time, n int) []time.Time {
	y, m, d := start.Date()
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	out := make([]time.Time, 0, max(n, 0))
	for len(out) < n {
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			out = append(out, t)
		}
		t = t.AddDate(0, 0, 1)
	}
	return out
}
