package dataset_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/taskfleet/taskfleet/internal/dataset"
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

func TestReadCSV(t *testing.T) {
	t.Parallel()

	t.Run("Valid", func(t *testing.T) {
		t.Parallel()
		// Columns in any order, a BOM, missing values, rows out of order.
		in := "\ufefflabel,instrument,f1,datetime,f2\n" +
			"0.5,SZ000001,1.5,2020-01-03,NaN\n" +
			"-0.1,SH600000,2,2020-01-02,\n" +
			",SH600000,3,2020-01-03,4e-1\n"
		p, err := dataset.ReadCSV(strings.NewReader(in), "in.csv")
		require.NoError(t, err)
		require.Equal(t, []string{"f1", "f2"}, p.Features)
		require.Equal(t, 3, p.Len())

		r := p.Rows[0]
		require.Equal(t, day("2020-01-02"), r.Datetime)
		require.Equal(t, "SH600000", r.Instrument)
		require.Equal(t, 2.0, r.Features[0])
		require.True(t, math.IsNaN(r.Features[1]))
		require.Equal(t, -0.1, r.Label)

		require.Equal(t, "SH600000", p.Rows[1].Instrument, "sorted by datetime, then instrument")
		require.Equal(t, 0.4, p.Rows[1].Features[1])
		require.True(t, math.IsNaN(p.Rows[1].Label))
		require.Equal(t, "SZ000001", p.Rows[2].Instrument)
		require.Equal(t, []string{"SH600000", "SZ000001"}, p.Instruments())
		require.Equal(t, 1, p.FeatureIndex("f2"))
		require.Equal(t, -1, p.FeatureIndex("nope"))
	})

	t.Run("BadFloatNamesFileLineColumn", func(t *testing.T) {
		t.Parallel()
		var b strings.Builder
		b.WriteString("datetime,instrument,f1,f2,f3,label\n")
		for i := 2; i <= 16; i++ {
			b.WriteString("2020-01-02,S" + strings.Repeat("0", 3) + string(rune('A'+i)) + ",1,2,3,0.1\n")
		}
		b.WriteString("2020-01-03,S0001,1,2,abc,0.1\n") // line 17
		_, err := dataset.ReadCSV(strings.NewReader(b.String()), "data.csv")
		require.EqualError(t, err, `data.csv:17: column "f3": bad number "abc"`)
		var pe *dataset.ParseError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, 17, pe.Line)
		require.Equal(t, "f3", pe.Column)
	})

	for _, tc := range []struct {
		name, in, want string
	}{
		{"BadLabel", "datetime,instrument,f1,label\n2020-01-02,A,1,x1\n", `data.csv:2: column "label": bad number "x1"`},
		{"BadDate", "datetime,instrument,f1,label\n2020-01-02,A,1,1\n2020-13-45,A,1,1\n", `data.csv:3: column "datetime": bad date "2020-13-45"`},
		{"EmptyInstrument", "datetime,instrument,f1,label\n2020-01-02, ,1,1\n", `data.csv:2: column "instrument": empty instrument`},
		{"Duplicate", "datetime,instrument,f1,label\n2020-01-02,A,1,1\n2020-01-03,A,1,1\n2020-01-02,A,2,2\n", `data.csv:4: duplicate row for 2020-01-02 A (first on line 2)`},
		{"WrongFieldCount", "datetime,instrument,f1,label\n2020-01-02,A,1,1\n2020-01-03,A,1\n", `data.csv:3: wrong number of fields`},
		{"MissingLabel", "datetime,instrument,f1\n", `data.csv:1: missing column "label" (header: datetime,instrument,f1)`},
		{"NoFeatures", "datetime,instrument,label\n", `data.csv:1: no feature columns: want datetime, instrument, features..., label`},
		{"DuplicateColumn", "datetime,instrument,f1,f1,label\n", `data.csv:1: column "f1": column appears twice`},
		{"Empty", "", `data.csv: empty file, want a header line`},
		{"BadQuote", "datetime,instrument,f1,label\n2020-01-02,\"A,1,1\n", `data.csv:2: extraneous or missing " in quoted-field`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := dataset.ReadCSV(strings.NewReader(tc.in), "data.csv")
			require.EqualError(t, err, tc.want)
		})
	}

	t.Run("LoadCSV", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "data.csv")
		require.NoError(t, os.WriteFile(path, []byte("datetime,instrument,f1,label\n2020-01-02,A,oops,1\n"), 0o600))
		_, err := dataset.LoadCSV(path)
		require.EqualError(t, err, path+`:2: column "f1": bad number "oops"`)

		_, err = dataset.LoadCSV(filepath.Join(t.TempDir(), "missing.csv"))
		require.ErrorIs(t, err, os.ErrNotExist)
	})

	t.Run("WriteReadRoundTrip", func(t *testing.T) {
		t.Parallel()
		p, err := dataset.Synthetic(dataset.SynthConfig{Instruments: 3, Start: day("2020-01-02"), NumDays: 4, Features: 2, Seed: 7})
		require.NoError(t, err)
		p.Rows[1].Features[0] = math.NaN()
		var buf bytes.Buffer
		require.NoError(t, p.WriteCSV(&buf))
		back, err := dataset.ReadCSV(&buf, "p.csv")
		require.NoError(t, err)
		require.Equal(t, p.Features, back.Features)
		require.Len(t, back.Rows, len(p.Rows))
		for i := range p.Rows {
			require.Equal(t, p.Rows[i].Datetime, back.Rows[i].Datetime)
			require.Equal(t, p.Rows[i].Instrument, back.Rows[i].Instrument)
			require.Equal(t, p.Rows[i].Label, back.Rows[i].Label)
			for j := range p.Features {
				if math.IsNaN(p.Rows[i].Features[j]) {
					require.True(t, math.IsNaN(back.Rows[i].Features[j]))
					continue
				}
				require.Equal(t, p.Rows[i].Features[j], back.Rows[i].Features[j])
			}
		}
	})
}

func TestBetween(t *testing.T) {
	t.Parallel()
	p, err := dataset.Synthetic(dataset.SynthConfig{
		Instruments: 2, Features: 1, Seed: 1,
		Days: []time.Time{day("2020-01-06"), day("2020-01-02"), day("2020-01-03"), day("2020-01-07")},
	})
	require.NoError(t, err)
	dates := func(q *dataset.Panel) []string {
		var out []string
		for _, d := range q.Dates() {
			out = append(out, dataset.FormatDate(d))
		}
		return out
	}
	require.Equal(t, []string{"2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"}, dates(p))
	require.Equal(t, []string{"2020-01-03", "2020-01-06"}, dates(p.Between(day("2020-01-03"), day("2020-01-06"))), "both ends inclusive")
	require.Equal(t, []string{"2020-01-03", "2020-01-06"}, dates(p.Between(day("2020-01-03"), day("2020-01-06").Add(time.Hour))))
	require.Equal(t, []string{"2020-01-06", "2020-01-07"}, dates(p.Between(day("2020-01-04"), time.Time{})), "open end")
	require.Equal(t, []string{"2020-01-02", "2020-01-03"}, dates(p.Between(time.Time{}, day("2020-01-05"))), "open start")
	require.Equal(t, 8, p.Between(time.Time{}, time.Time{}).Len())
	require.Equal(t, 0, p.Between(day("2020-01-04"), day("2020-01-05")).Len())
	require.Equal(t, 0, p.Between(day("2020-01-07"), day("2020-01-02")).Len(), "start after end")
	require.Equal(t, 0, p.Between(day("2021-01-01"), time.Time{}).Len())
	require.Equal(t, 2, p.Between(day("2020-01-07"), day("2020-01-07")).Len())
}

func TestFormatDate(t *testing.T) {
	t.Parallel()
	require.Equal(t, "2020-01-02", dataset.FormatDate(day("2020-01-02")))
	require.Equal(t, "2020-01-02 09:30:00", dataset.FormatDate(time.Date(2020, 1, 2, 9, 30, 0, 0, time.UTC)))
}

func TestNewPanel(t *testing.T) {
	t.Parallel()
	r := func(d, inst string, x ...float64) dataset.Row {
		return dataset.Row{Datetime: day(d), Instrument: inst, Features: x}
	}
	_, err := dataset.NewPanel(nil, nil)
	require.ErrorIs(t, err, dataset.ErrInvalid)
	_, err = dataset.NewPanel([]string{"a", "a"}, nil)
	require.ErrorContains(t, err, `feature "a" appears twice`)
	_, err = dataset.NewPanel([]string{"a"}, []dataset.Row{r("2020-01-02", "A", 1, 2)})
	require.ErrorContains(t, err, "row 0 has 2 features, want 1")
	_, err = dataset.NewPanel([]string{"a"}, []dataset.Row{r("2020-01-02", "", 1)})
	require.ErrorContains(t, err, "row 0 has no instrument")
	_, err = dataset.NewPanel([]string{"a"}, []dataset.Row{r("2020-01-02", "A", 1), r("2020-01-02", "A", 2)})
	require.ErrorContains(t, err, "two rows for 2020-01-02 A")
}

func TestSynthetic(t *testing.T) {
	t.Parallel()
	cfg := dataset.SynthConfig{Instruments: 40, Start: day("2020-01-04"), NumDays: 60, Features: 4, Seed: 42}

	t.Run("DeterministicPerSeed", func(t *testing.T) {
		t.Parallel()
		a, err := dataset.Synthetic(cfg)
		require.NoError(t, err)
		b, err := dataset.Synthetic(cfg)
		require.NoError(t, err)
		require.Equal(t, a, b)

		other := cfg
		other.Seed = 43
		c, err := dataset.Synthetic(other)
		require.NoError(t, err)
		require.NotEqual(t, a.Rows[0].Features, c.Rows[0].Features)
		require.NotEqual(t, cfg.Weights(), other.Weights())

		// Pin the stream so an accidental change to the generator is noticed.
		require.InDelta(t, -0.6309097269, cfg.Weights()[0], 1e-9)
		require.InDelta(t, -0.0855185581, a.Rows[0].Features[0], 1e-9)
		require.InDelta(t, 2.8613936261, a.Rows[0].Label, 1e-9)
	})

	t.Run("Shape", func(t *testing.T) {
		t.Parallel()
		p, err := dataset.Synthetic(cfg)
		require.NoError(t, err)
		require.Equal(t, []string{"f0", "f1", "f2", "f3"}, p.Features)
		require.Equal(t, 40*60, p.Len())
		dates := p.Dates()
		require.Len(t, dates, 60)
		require.Equal(t, day("2020-01-06"), dates[0], "a Saturday start moves to Monday")
		for _, d := range dates {
			require.NotEqual(t, time.Saturday, d.Weekday())
			require.NotEqual(t, time.Sunday, d.Weekday())
		}
		require.Equal(t, "S0000", p.Rows[0].Instrument)
		require.Equal(t, "S0039", p.Rows[39].Instrument)
		w := cfg.Weights()
		var norm float64
		for _, v := range w {
			norm += v * v
		}
		require.InDelta(t, 1, norm, 1e-12)
	})

	t.Run("PlantedSignal", func(t *testing.T) {
		t.Parallel()
		// The true signal w·x predicts the label with IC near sqrt(SNR/(1+SNR)).
		p, err := dataset.Synthetic(cfg)
		require.NoError(t, err)
		w := cfg.Weights()
		f := &collect.Frame{HasLabel: true}
		for _, r := range p.Rows {
			s := 0.0
			for j, x := range r.Features {
				s += w[j] * x
			}
			f.Rows = append(f.Rows, collect.Row{Datetime: r.Datetime, Instrument: r.Instrument, Score: s, Label: r.Label})
		}
		ic, err := f.IC()
		require.NoError(t, err)
		want := math.Sqrt(0.05 / 1.05)
		require.InDelta(t, want, ic.IC, 0.06, "oracle IC %v", ic.IC)
	})

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		for _, bad := range []dataset.SynthConfig{
			{},
			{Start: day("2020-01-02")},
			{Start: day("2020-01-02"), NumDays: 3, Instruments: -1},
			{Start: day("2020-01-02"), NumDays: 3, SNR: -1},
			{Days: []time.Time{day("2020-01-02"), day("2020-01-02")}},
		} {
			_, err := dataset.Synthetic(bad)
			require.ErrorIs(t, err, dataset.ErrInvalid, "%+v", bad)
		}
	})
}

func TestBusinessDays(t *testing.T) {
	t.Parallel()
	got := dataset.BusinessDays(time.Date(2020, 1, 2, 15, 0, 0, 0, time.UTC), 4) // a Thursday
	require.Equal(t, []time.Time{day("2020-01-02"), day("2020-01-03"), day("2020-01-06"), day("2020-01-07")}, got)
	require.Empty(t, dataset.BusinessDays(day("2020-01-02"), 0))
}
