package collect_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/collect"
)

func TestReadCSV(t *testing.T) {
	t.Parallel()

	t.Run("LabeledAnyColumnOrder", func(t *testing.T) {
		t.Parallel()
		in := "\ufeffinstrument,extra,label,datetime,score\n" +
			"SH600000,x,-0.01,2020-01-02,0.25\n" +
			"SZ000001,y,NaN,2020-01-02 00:00:00,\n" +
			"SH600000,z,0.02,2020-01-03T09:30:00,1e-3\n"
		f, err := collect.ReadCSV(strings.NewReader(in), collect.ReadOptions{Name: "pred.csv"})
		require.NoError(t, err)
		require.True(t, f.HasLabel)
		require.Len(t, f.Rows, 3)
		require.Equal(t, day("2020-01-02"), f.Rows[1].Datetime)
		require.Equal(t, time.Date(2020, 1, 3, 9, 30, 0, 0, time.UTC), f.Rows[2].Datetime)
		require.Equal(t, "SH600000", f.Rows[0].Instrument)
		require.Equal(t, 0.25, f.Rows[0].Score)
		require.Equal(t, -0.01, f.Rows[0].Label)
		require.True(t, math.IsNaN(f.Rows[1].Score))
		require.True(t, math.IsNaN(f.Rows[1].Label))
		require.Equal(t, 1e-3, f.Rows[2].Score)
	})

	t.Run("RoundTripsWriteCSV", func(t *testing.T) {
		t.Parallel()
		in := lframe(lrow("2020-01-02", "A", 0.5, math.NaN()), lrow("2020-01-03", "B", -1, 2))
		var buf bytes.Buffer
		require.NoError(t, in.WriteCSV(&buf))
		out, err := collect.ReadCSV(&buf, collect.ReadOptions{Name: "pred.csv"})
		require.NoError(t, err)
		require.Equal(t, scoresOf(t, in), scoresOf(t, out))
		require.True(t, math.IsNaN(out.Rows[0].Label))
		require.Equal(t, 2.0, out.Rows[1].Label)
	})

	t.Run("Unlabeled", func(t *testing.T) {
		t.Parallel()
		f, err := collect.ReadCSV(strings.NewReader("datetime,instrument,score\n2020-01-02,A,1\n"), collect.ReadOptions{Name: "p.csv"})
		require.NoError(t, err)
		require.False(t, f.HasLabel)
		require.Len(t, f.Rows, 1)
	})

	// Each malformed file names the file, the line and, where it is about
	// one, the column.
	for _, tc := range []struct {
		name, in, want string
		is             error
	}{
		{"Empty", "", `pred.csv: empty file, want a header line`, nil},
		{"MissingScore", "datetime,instrument,label\n", `pred.csv:1: missing column "score" (header: datetime,instrument,label)`, nil},
		{"MissingDatetime", "date,instrument,score\n", `pred.csv:1: missing column "datetime" (header: date,instrument,score)`, nil},
		{"ColumnTwice", "datetime,instrument,score,score\n", `pred.csv:1: column "score": column appears twice`, nil},
		{"BadDate", "datetime,instrument,score\n2020-01-02,A,1\n2020-13-45,B,1\n", `pred.csv:3: column "datetime": bad date "2020-13-45"`, nil},
		{"BadScore", "datetime,instrument,score\n2020-01-02,A,abc\n", `pred.csv:2: column "score": bad number "abc"`, nil},
		{"BadLabel", "datetime,instrument,score,label\n2020-01-02,A,1,1..2\n", `pred.csv:2: column "label": bad number "1..2"`, nil},
		{"EmptyInstrument", "datetime,instrument,score\n2020-01-02, ,1\n", `pred.csv:2: column "instrument": empty instrument`, nil},
		{"ShortRecord", "datetime,instrument,score\n2020-01-02,A\n", `pred.csv:2: wrong number of fields`, nil},
		{
			"Duplicate",
			"datetime,instrument,score\n2020-01-02,A,1\n2020-01-02,B,1\n2020-01-03,A,1\n2020-01-02 00:00:00,A,2\n2020-01-02,B,3\n",
			`pred.csv:5: duplicate row for 2020-01-02 A (first at line 2)`, collect.ErrDuplicateRow,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := collect.ReadCSV(strings.NewReader(tc.in), collect.ReadOptions{Name: "pred.csv"})
			require.EqualError(t, err, tc.want)
			require.ErrorIs(t, err, collect.ErrBadFile)
			var pe *collect.ParseError
			require.ErrorAs(t, err, &pe)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
		})
	}
}

func TestReadLimits(t *testing.T) {
	t.Parallel()
	csvFile := "datetime,instrument,score\n2020-01-02,A,1\n2020-01-03,A,1\n2020-01-06,A,1\n"
	pq := parquetBytes(t, frame(row("2020-01-02", "A", 1), row("2020-01-03", "A", 1), row("2020-01-06", "A", 1)))
	ctx := context.Background()

	t.Run("SizeKnownBeforeReading", func(t *testing.T) {
		t.Parallel()
		// The reader fails if touched: a size over the limit is refused first.
		for _, name := range []string{"pred.csv", "pred.parquet"} {
			_, err := collect.ReadFrame(ctx, iotest.ErrReader(errors.New("read")), 5<<30, collect.ReadOptions{Name: name})
			require.ErrorIs(t, err, collect.ErrFileTooLarge)
			require.EqualError(t, err, name+": too large: 5368709120 bytes, over the limit of 1073741824")
		}
	})

	t.Run("StreamLongerThanLimit", func(t *testing.T) {
		t.Parallel()
		_, err := collect.ReadFrame(ctx, strings.NewReader(csvFile), -1, collect.ReadOptions{Name: "pred.csv", MaxSize: 30})
		require.ErrorIs(t, err, collect.ErrFileTooLarge)
		require.EqualError(t, err, "pred.csv: too large: over the limit of 30 bytes")
		_, err = collect.ReadFrame(ctx, bytes.NewReader(pq), -1, collect.ReadOptions{Name: "pred.parquet", MaxSize: int64(len(pq) - 1)})
		require.ErrorIs(t, err, collect.ErrFileTooLarge)

		// Exactly at the limit is fine.
		f, err := collect.ReadFrame(ctx, strings.NewReader(csvFile), -1, collect.ReadOptions{Name: "pred.csv", MaxSize: int64(len(csvFile))})
		require.NoError(t, err)
		require.Equal(t, 3, f.Len())
		f, err = collect.ReadFrame(ctx, bytes.NewReader(pq), -1, collect.ReadOptions{Name: "pred.parquet", MaxSize: int64(len(pq))})
		require.NoError(t, err)
		require.Equal(t, 3, f.Len())
	})

	t.Run("Rows", func(t *testing.T) {
		t.Parallel()
		_, err := collect.ReadFrame(ctx, strings.NewReader(csvFile), -1, collect.ReadOptions{Name: "pred.csv", MaxRows: 2})
		require.EqualError(t, err, "pred.csv:4: too large: more than 2 rows")
		require.ErrorIs(t, err, collect.ErrFileTooLarge)
		_, err = collect.ReadFrame(ctx, bytes.NewReader(pq), -1, collect.ReadOptions{Name: "pred.parquet", MaxRows: 2})
		require.EqualError(t, err, "pred.parquet: too large: 3 rows, over the limit of 2")
	})

	t.Run("HostileFooter", func(t *testing.T) {
		t.Parallel()
		// A footer length of 4 GiB in a tiny file is refused before any
		// buffer of that size is made.
		bad := []byte("PAR1\x00\x00\x00\x00\xff\xff\xff\xffPAR1")
		_, err := collect.ReadParquet(bytes.NewReader(bad), int64(len(bad)), collect.ReadOptions{Name: "pred.parquet"})
		require.EqualError(t, err, "pred.parquet: not a Parquet file: its footer claims 4294967295 bytes of a 16-byte file")
		_, err = collect.ReadParquet(strings.NewReader("datetime,instrument,score\n"), 26, collect.ReadOptions{Name: "pred.parquet"})
		require.ErrorIs(t, err, collect.ErrBadFile)
	})

	t.Run("HostilePageHeader", func(t *testing.T) {
		t.Parallel()
		// The first page header follows "PAR1": a compact-thrift struct whose
		// fields 2 and 3 are the uncompressed and compressed page sizes. A
		// claim of about 2 GiB in a file of a few hundred bytes is refused
		// before the Parquet reader allocates it.
		for field, want := range map[int]string{
			1: "past its chunk",
			0: "a page of 2147483647 bytes uncompressed, over the limit of 268435456",
		} {
			bad := withPageSize(t, pq, field, []byte{0xfe, 0xff, 0xff, 0xff, 0x0f})
			_, err := collect.ReadParquet(bytes.NewReader(bad), int64(len(bad)), collect.ReadOptions{Name: "pred.parquet"})
			require.ErrorContains(t, err, want)
			require.ErrorIs(t, err, collect.ErrBadFile)
		}
	})

	t.Run("UnknownExtension", func(t *testing.T) {
		t.Parallel()
		_, err := collect.ReadFrame(ctx, strings.NewReader(csvFile), -1, collect.ReadOptions{Name: "pred.pkl"})
		require.EqualError(t, err, "pred.pkl: unknown format: want a .csv or .parquet file")
	})
}

func TestReadParquetErrors(t *testing.T) {
	t.Parallel()

	t.Run("MissingColumn", func(t *testing.T) {
		t.Parallel()
		type noScore struct {
			Datetime   time.Time `parquet:"datetime,timestamp(microsecond)"`
			Instrument string    `parquet:"instrument"`
			Pred       float64   `parquet:"pred"`
		}
		data := writeParquet(t, []noScore{{day("2020-01-02"), "A", 1}})
		_, err := collect.ReadParquet(bytes.NewReader(data), int64(len(data)), collect.ReadOptions{Name: "pred.parquet"})
		require.EqualError(t, err, `pred.parquet: missing column "score" (columns: datetime, instrument, pred)`)
	})

	t.Run("Duplicate", func(t *testing.T) {
		t.Parallel()
		data := parquetBytes(t, frame(row("2020-01-02", "A", 1), row("2020-01-02", "B", 1), row("2020-01-02", "A", 2)))
		_, err := collect.ReadParquet(bytes.NewReader(data), int64(len(data)), collect.ReadOptions{Name: "pred.parquet"})
		require.EqualError(t, err, "pred.parquet: row 3: duplicate row for 2020-01-02 A (first at row 1)")
		require.ErrorIs(t, err, collect.ErrDuplicateRow)
	})

	t.Run("StringDates", func(t *testing.T) {
		t.Parallel()
		type stringDates struct {
			Datetime   string  `parquet:"datetime"`
			Instrument string  `parquet:"instrument"`
			Score      float32 `parquet:"score"`
			Label      *int64  `parquet:"label,optional"`
		}
		two := int64(2)
		data := writeParquet(t, []stringDates{{"2020-01-02", "A", 0.5, &two}, {"2020-01-03", "A", 1, nil}})
		f, err := collect.ReadParquet(bytes.NewReader(data), int64(len(data)), collect.ReadOptions{Name: "p.parquet"})
		require.NoError(t, err)
		require.True(t, f.HasLabel)
		require.Equal(t, day("2020-01-03"), f.Rows[1].Datetime)
		require.Equal(t, 0.5, f.Rows[0].Score)
		require.Equal(t, 2.0, f.Rows[0].Label)
		require.True(t, math.IsNaN(f.Rows[1].Label))

		bad := writeParquet(t, []stringDates{{"2020-01-02", "A", 0.5, nil}, {"someday", "A", 1, nil}})
		_, err = collect.ReadParquet(bytes.NewReader(bad), int64(len(bad)), collect.ReadOptions{Name: "p.parquet"})
		require.EqualError(t, err, `p.parquet: row 2: column "datetime": bad date "someday"`)
	})

	t.Run("UnsupportedType", func(t *testing.T) {
		t.Parallel()
		type boolScore struct {
			Datetime   time.Time `parquet:"datetime,timestamp(millisecond)"`
			Instrument string    `parquet:"instrument"`
			Score      bool      `parquet:"score"`
		}
		data := writeParquet(t, []boolScore{{day("2020-01-02"), "A", true}})
		_, err := collect.ReadParquet(bytes.NewReader(data), int64(len(data)), collect.ReadOptions{Name: "p.parquet"})
		require.EqualError(t, err, `p.parquet: column "score": unsupported type BOOLEAN`)
	})
}

func TestLabels(t *testing.T) {
	t.Parallel()
	// A dataset panel: features are ignored, the label is joined on
	// (datetime, instrument).
	panel := "datetime,instrument,f1,f2,label\n2020-01-02,A,1,2,0.1\n2020-01-02,B,1,2,-0.2\n2020-01-03,A,1,2,\n"
	l, err := collect.ReadLabels(context.Background(), strings.NewReader(panel), int64(len(panel)), collect.ReadOptions{Name: "panel.csv"})
	require.NoError(t, err)
	require.Equal(t, 3, l.Len())
	pred := frame(row("2020-01-02", "B", 1), row("2020-01-02", "A", 2), row("2020-01-03", "A", 3), row("2020-01-04", "A", 4))
	got := pred.WithLabels(l)
	require.True(t, got.HasLabel)
	require.False(t, pred.HasLabel, "the input is not modified")
	require.Equal(t, -0.2, got.Rows[0].Label)
	require.Equal(t, 0.1, got.Rows[1].Label)
	require.True(t, math.IsNaN(got.Rows[2].Label))
	require.True(t, math.IsNaN(got.Rows[3].Label))
	require.Equal(t, scoresOf(t, pred), scoresOf(t, got))

	_, err = collect.ReadLabels(context.Background(), strings.NewReader("datetime,instrument,score\n"), -1, collect.ReadOptions{Name: "labels.csv"})
	require.EqualError(t, err, `labels.csv:1: missing column "label" (header: datetime,instrument,score)`)
}

func parquetBytes(t *testing.T, f *collect.Frame) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, f.WriteParquet(&buf))
	return buf.Bytes()
}

func writeParquet[T any](t *testing.T, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, parquet.Write(&buf, rows))
	return buf.Bytes()
}

// FuzzReadFrame feeds arbitrary bytes to both readers: they return a frame
// without duplicates or a *ParseError, never panic, and stay within the row
// limit.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("datetime,instrument,score,label\n2020-01-02,A,1,0.5\n2020-01-03,A,,\n"), false)
	f.Add([]byte("datetime,instrument,score\n2020-01-02,A,1\n2020-01-02,A,2\n"), false)
	f.Add(func() []byte {
		var buf bytes.Buffer
		if err := lframe(lrow("2020-01-02", "A", 1, 2), lrow("2020-01-03", "B", 3, math.NaN())).WriteParquet(&buf); err != nil {
			panic(err)
		}
		return buf.Bytes()
	}(), true)
	f.Fuzz(func(t *testing.T, data []byte, isParquet bool) {
		name := map[bool]string{true: "pred.parquet", false: "pred.csv"}[isParquet]
		fr, err := collect.ReadFrame(context.Background(), bytes.NewReader(data), int64(len(data)), collect.ReadOptions{Name: name, MaxRows: 1000})
		if err != nil {
			var pe *collect.ParseError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, name, pe.File)
			return
		}
		require.LessOrEqual(t, fr.Len(), 1000)
		seen := map[string]bool{}
		for _, r := range fr.Rows {
			k := r.Datetime.String() + "/" + r.Instrument
			require.False(t, seen[k], "duplicate %s", k)
			require.NotEmpty(t, r.Instrument)
			seen[k] = true
		}
	})
}

// withPageSize returns a copy of a Parquet file whose first page header has
// field (0: uncompressed size, 1: compressed size) replaced by the varint v.
func withPageSize(t *testing.T, data []byte, field int, v []byte) []byte {
	t.Helper()
	varint := func(b []byte) int {
		i := 0
		for b[i]&0x80 != 0 {
			i++
		}
		return i + 1
	}
	require.Equal(t, byte(0x15), data[4], "page type field")
	out := append([]byte{}, data[:5]...)
	rest := data[5:]
	n := varint(rest)
	out, rest = append(out, rest[:n]...), rest[n:]
	for f := range 2 {
		out, rest = append(out, rest[0]), rest[1:]
		n := varint(rest)
		if f == field {
			out = append(out, v...)
		} else {
			out = append(out, rest[:n]...)
		}
		rest = rest[n:]
	}
	return append(out, rest...)
}
