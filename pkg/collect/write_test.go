package collect_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/collect"
)

func TestWriteCSV(t *testing.T) {
	t.Parallel()

	t.Run("Labeled", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		f := lframe(lrow("2020-01-02", "SH600000", 0.25, -0.01), lrow("2020-01-02", "SZ000001", math.NaN(), 1e-9))
		require.NoError(t, f.WriteCSV(&buf))
		require.Equal(t, "datetime,instrument,score,label\n"+
			"2020-01-02,SH600000,0.25,-0.01\n"+
			"2020-01-02,SZ000001,,1e-09\n", buf.String())
	})

	t.Run("UnlabeledIntraday", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		f := frame(row("2020-01-02", "A", 1))
		f.Rows = append(f.Rows, collect.Row{Datetime: time.Date(2020, 1, 2, 9, 30, 0, 0, time.UTC), Instrument: "A", Score: 2})
		require.NoError(t, f.WriteCSV(&buf))
		require.Equal(t, "datetime,instrument,score\n2020-01-02 00:00:00,A,1\n2020-01-02 09:30:00,A,2\n", buf.String())
	})
}

func TestParquetRoundTrip(t *testing.T) {
	t.Parallel()

	for _, labeled := range []bool{true, false} {
		t.Run(map[bool]string{true: "Labeled", false: "Unlabeled"}[labeled], func(t *testing.T) {
			t.Parallel()
			in := &collect.Frame{HasLabel: labeled, Rows: []collect.Row{
				lrow("2020-01-02", "SH600000", 0.25, -0.01),
				lrow("2020-01-02", "SZ000001", -1.5, math.NaN()),
				{Datetime: time.Date(2020, 1, 3, 9, 30, 0, 0, time.FixedZone("CST", 8*3600)), Instrument: "SH600000", Score: math.NaN(), Label: 0.02},
			}}
			path := filepath.Join(t.TempDir(), "pred.parquet")
			fh, err := os.Create(path)
			require.NoError(t, err)
			require.NoError(t, in.WriteParquet(fh))
			require.NoError(t, fh.Close())

			data, err := os.ReadFile(path)
			require.NoError(t, err)
			out, err := collect.ReadParquet(bytes.NewReader(data), int64(len(data)), collect.ReadOptions{Name: "pred.parquet"})
			require.NoError(t, err)
			require.Equal(t, labeled, out.HasLabel)
			require.Len(t, out.Rows, len(in.Rows))
			for i, want := range in.Rows {
				got := out.Rows[i]
				require.True(t, want.Datetime.Equal(got.Datetime), "row %d: %v != %v", i, want.Datetime, got.Datetime)
				require.Equal(t, time.UTC, got.Datetime.Location())
				require.Equal(t, want.Instrument, got.Instrument)
				requireSameFloat(t, want.Score, got.Score)
				if labeled {
					requireSameFloat(t, want.Label, got.Label)
				} else {
					require.True(t, math.IsNaN(got.Label))
				}
			}

			// The schema is what pandas.read_parquet expects: a naive timestamp,
			// a string, doubles; a null (not NaN) label where it is unknown.
			pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
			require.NoError(t, err)
			schema := pf.Schema().String()
			require.Contains(t, schema, "int64 datetime (TIMESTAMP(isAdjustedToUTC=false,unit=NANOS))")
			require.Contains(t, schema, "binary instrument (STRING)")
			require.Contains(t, schema, "double score")
			require.Equal(t, labeled, strings.Contains(schema, "optional double label"))
			require.EqualValues(t, 3, pf.NumRows())
		})
	}
}

func requireSameFloat(t *testing.T, want, got float64) {
	t.Helper()
	if math.IsNaN(want) {
		require.True(t, math.IsNaN(got), "want NaN, got %v", got)
		return
	}
	require.Equal(t, want, got)
}
