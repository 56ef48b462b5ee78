package collect

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
)

const dateTimeLayout = "2006-01-02 15:04:05"

// WriteCSV writes f as CSV with the header datetime,instrument,score and, when
// f has labels, label. Datetimes are written in UTC as YYYY-MM-DD when every
// one is a midnight, otherwise as YYYY-MM-DD HH:MM:SS. NaN is written as an
// empty field, which pandas read_csv reads back as NaN.
func (f *Frame) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := []string{"datetime", "instrument", "score"}
	if f.HasLabel {
		header = append(header, "label")
	}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("collect: write csv: %w", err)
	}
	layout := time.DateOnly
	for _, r := range f.Rows {
		if t := r.Datetime.UTC(); t != t.Truncate(24*time.Hour) {
			layout = dateTimeLayout
			break
		}
	}
	rec := make([]string, len(header))
	for _, r := range f.Rows {
		rec[0] = r.Datetime.UTC().Format(layout)
		rec[1] = r.Instrument
		rec[2] = formatFloat(r.Score)
		if f.HasLabel {
			rec[3] = formatFloat(r.Label)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("collect: write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("collect: write csv: %w", err)
	}
	return nil
}

func formatFloat(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Parquet rows. datetime is a TIMESTAMP(MICROS, isAdjustedToUTC=false): pandas
// read_parquet reads it as a naive datetime64 column, like Qlib's datetime
// index. A NaN label is stored as null.
type parquetRow struct {
	Datetime   time.Time `parquet:"datetime,timestamp(microsecond:local)"`
	Instrument string    `parquet:"instrument,dict"`
	Score      float64   `parquet:"score"`
}

type parquetLabeledRow struct {
	Datetime   time.Time `parquet:"datetime,timestamp(microsecond:local)"`
	Instrument string    `parquet:"instrument,dict"`
	Score      float64   `parquet:"score"`
	Label      *float64  `parquet:"label,optional"`
}

// WriteParquet writes f as a Snappy-compressed Parquet file with the columns
// datetime (timestamp, microseconds, no time zone: the UTC wall clock),
// instrument (string), score (double) and, when f has labels, label (optional
// double; NaN becomes null). pandas.read_parquet and pyarrow read it directly.
func (f *Frame) WriteParquet(w io.Writer) error {
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Snappy)}
	var err error
	if f.HasLabel {
		rows := make([]parquetLabeledRow, len(f.Rows))
		for i, r := range f.Rows {
			rows[i] = parquetLabeledRow{Datetime: r.Datetime.UTC(), Instrument: r.Instrument, Score: r.Score}
			if !math.IsNaN(r.Label) {
				rows[i].Label = &r.Label
			}
		}
		err = parquet.Write(w, rows, opts...)
	} else {
		rows := make([]parquetRow, len(f.Rows))
		for i, r := range f.Rows {
			rows[i] = parquetRow{Datetime: r.Datetime.UTC(), Instrument: r.Instrument, Score: r.Score}
		}
		err = parquet.Write(w, rows, opts...)
	}
	if err != nil {
		return fmt.Errorf("collect: write parquet: %w", err)
	}
	return nil
}

// ReadParquet reads a frame written by WriteParquet. Datetimes come back in
// UTC; a null label becomes NaN.
func ReadParquet(r io.ReaderAt, size int64) (*Frame, error) {
	pf, err := parquet.OpenFile(r, size)
	if err != nil {
		return nil, fmt.Errorf("collect: read parquet: %w", err)
	}
	_, hasLabel := pf.Schema().Lookup("label")
	out := &Frame{HasLabel: hasLabel}
	if hasLabel {
		rows, err := parquet.Read[parquetLabeledRow](r, size)
		if err != nil {
			return nil, fmt.Errorf("collect: read parquet: %w", err)
		}
		out.Rows = make([]Row, len(rows))
		for i, pr := range rows {
			label := math.NaN()
			if pr.Label != nil {
				label = *pr.Label
			}
			out.Rows[i] = Row{Datetime: pr.Datetime.UTC(), Instrument: pr.Instrument, Score: pr.Score, Label: label}
		}
		return out, nil
	}
	rows, err := parquet.Read[parquetRow](r, size)
	if err != nil {
		return nil, fmt.Errorf("collect: read parquet: %w", err)
	}
	out.Rows = make([]Row, len(rows))
	for i, pr := range rows {
		out.Rows[i] = Row{Datetime: pr.Datetime.UTC(), Instrument: pr.Instrument, Score: pr.Score, Label: math.NaN()}
	}
	return out, nil
}
