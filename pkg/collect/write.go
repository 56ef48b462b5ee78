package collect

import (
	"encoding/csv"
	"encoding/json"
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

// Parquet rows. datetime is a TIMESTAMP(NANOS, isAdjustedToUTC=false):
// pandas reads it as a naive datetime64[ns], the dtype of Qlib's datetime
// index level. A NaN label is stored as null.
type parquetRow struct {
	Datetime   time.Time `parquet:"datetime,timestamp(nanosecond:local)"`
	Instrument string    `parquet:"instrument,dict"`
	Score      float64   `parquet:"score"`
}

type parquetLabeledRow struct {
	Datetime   time.Time `parquet:"datetime,timestamp(nanosecond:local)"`
	Instrument string    `parquet:"instrument,dict"`
	Score      float64   `parquet:"score"`
	Label      *float64  `parquet:"label,optional"`
}

// WriteParquet writes f as a Snappy-compressed Parquet file with the columns
// datetime (timestamp, nanoseconds, no time zone: the UTC wall clock),
// instrument (string), score (double) and, when f has labels, label
// (optional double; NaN becomes null). The file carries pandas' metadata,
// so pandas.read_parquet (with pyarrow or fastparquet installed) returns
// what Qlib's pred.pkl holds: a (datetime, instrument) MultiIndex and a
// float64 score column (and label).
func (f *Frame) WriteParquet(w io.Writer) error {
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Snappy), parquet.KeyValueMetadata("pandas", pandasMetadata(f.HasLabel))}
	var err error
	if f.HasLabel {
		rows := make([]parquetLabeledRow, len(f.Rows))
		for i, r := range f.Rows {
			rows[i] = parquetLabeledRow{Datetime: r.Datetime.UTC(), Instrument: r.Instrument, Score: r.Score}
			if !math.IsNaN(r.Label) {
				rows[i].Label = &r.Label
			}
		}
		err = parquet.Write(w, rows, append(opts, parquet.NewSchema("schema", parquet.SchemaOf(parquetLabeledRow{})))...)
	} else {
		rows := make([]parquetRow, len(f.Rows))
		for i, r := range f.Rows {
			rows[i] = parquetRow{Datetime: r.Datetime.UTC(), Instrument: r.Instrument, Score: r.Score}
		}
		err = parquet.Write(w, rows, append(opts, parquet.NewSchema("schema", parquet.SchemaOf(parquetRow{})))...)
	}
	if err != nil {
		return fmt.Errorf("collect: write parquet: %w", err)
	}
	return nil
}

// pandasMetadata is the "pandas" key-value metadata pyarrow writes for a
// frame indexed by (datetime, instrument): pyarrow's to_pandas rebuilds the
// index from index_columns and the dtypes from columns. Data columns come
// first, index columns last, as pyarrow lists them.
func pandasMetadata(labeled bool) string {
	type column struct {
		Name       string `json:"name"`
		FieldName  string `json:"field_name"`
		PandasType string `json:"pandas_type"`
		NumpyType  string `json:"numpy_type"`
		Metadata   any    `json:"metadata"`
	}
	cols := []column{{"score", "score", "float64", "float64", nil}}
	if labeled {
		cols = append(cols, column{"label", "label", "float64", "float64", nil})
	}
	cols = append(cols,
		column{"datetime", "datetime", "datetime", "datetime64[ns]", nil},
		column{"instrument", "instrument", "unicode", "object", nil})
	meta := map[string]any{
		"index_columns": []string{"datetime", "instrument"},
		"column_indexes": []map[string]any{{
			"name": nil, "field_name": nil, "pandas_type": "unicode", "numpy_type": "object",
			"metadata": map[string]string{"encoding": "UTF-8"},
		}},
		"columns": cols,
		"creator": map[string]string{"library": "taskfleet"},
	}
	b, _ := json.Marshal(meta) // plain maps and strings: cannot fail
	return string(b)
}
