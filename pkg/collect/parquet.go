package collect

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/taskfleet/taskfleet/pkg/rolling"
)

// ReadParquet reads a prediction file in Parquet of size bytes: the columns
// datetime, instrument and score, and optionally label, found by name
// (others are ignored), as WriteParquet, pandas' to_parquet or DuckDB write
// them. datetime may be a timestamp of any unit (read as its UTC wall
// clock), a date or a string ReadCSV would accept; score and label any
// float or integer type (null is NaN). A missing or unreadable column, a
// null datetime or instrument, or a second row for one (datetime,
// instrument) is a *ParseError naming o.Name and the 1-based row; a file
// over o.MaxSize bytes or o.MaxRows rows is rejected before its rows are
// read.
func ReadParquet(r io.ReaderAt, size int64, o ReadOptions) (*Frame, error) {
	return readParquet(context.Background(), r, size, o, fileSpec{})
}

// readBatch is how many rows are decoded at a time.
const readBatch = 1024

func readParquet(ctx context.Context, r io.ReaderAt, size int64, o ReadOptions, spec fileSpec) (*Frame, error) {
	fail := func(row int64, column string, err error) error {
		return &ParseError{File: o.Name, Row: row, Column: column, Err: err}
	}
	if size > o.maxSize() {
		return nil, tooLarge(o, size)
	}
	if err := checkFooter(r, size); err != nil {
		return nil, fail(0, "", err)
	}
	pf, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fail(0, "", fmt.Errorf("not a Parquet file: %w", err))
	}
	if n := pf.NumRows(); n > o.maxRows() || n < 0 {
		return nil, fail(0, "", reasonf(ErrFileTooLarge, "too large: %d rows, over the limit of %d", n, o.maxRows()))
	}
	if err := checkPages(r, size, pf.Metadata(), min(o.maxSize(), maxPageSize)); err != nil {
		return nil, fail(0, "", err)
	}

	// conv[i] stores leaf column i into a row; nil for ignored columns.
	conv := make([]func(*Row, parquet.Value) error, len(pf.Schema().Columns()))
	var names []string
	for _, path := range pf.Schema().Columns() {
		names = append(names, strings.Join(path, "."))
	}
	_, hasLabel := pf.Schema().Lookup("label")
	in := interner{}
	for _, name := range []string{"datetime", "instrument", "score", "label"} {
		leaf, ok := pf.Schema().Lookup(name)
		if !ok {
			if name == "label" || (name == "score" && spec.labels) {
				continue
			}
			return nil, fail(0, "", fmt.Errorf("missing column %q (columns: %s)", name, strings.Join(names, ", ")))
		}
		if leaf.MaxRepetitionLevel > 0 {
			return nil, fail(0, name, errors.New("a repeated column, want one value a row"))
		}
		c, err := converter(name, leaf.Node.Type(), in)
		if err != nil {
			return nil, fail(0, name, err)
		}
		conv[leaf.ColumnIndex] = c
	}

	out := &Frame{HasLabel: hasLabel, Rows: make([]Row, 0, min(pf.NumRows(), 1<<20))}
	buf := make([]parquet.Row, readBatch)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for done := false; !done; {
			if err := ctx.Err(); err != nil {
				rows.Close()
				return nil, err
			}
			n, err := rows.ReadRows(buf)
			if err != nil && !errors.Is(err, io.EOF) {
				rows.Close()
				return nil, fail(int64(len(out.Rows)+n+1), "", fmt.Errorf("read: %w", err))
			}
			done = errors.Is(err, io.EOF)
			if int64(len(out.Rows)+n) > o.maxRows() {
				rows.Close()
				return nil, fail(0, "", reasonf(ErrFileTooLarge, "too large: more than %d rows", o.maxRows()))
			}
			for _, pr := range buf[:n] {
				row := Row{Score: math.NaN(), Label: math.NaN()}
				for _, v := range pr {
					c := v.Column()
					if c < 0 || c >= len(conv) || conv[c] == nil {
						continue
					}
					if err := conv[c](&row, v); err != nil {
						rows.Close()
						return nil, fail(int64(len(out.Rows)+1), names[c], err)
					}
				}
				out.Rows = append(out.Rows, row)
			}
		}
		if err := rows.Close(); err != nil {
			return nil, fail(0, "", fmt.Errorf("read: %w", err))
		}
	}
	for i, r := range out.Rows {
		if r.Instrument == "" {
			return nil, fail(int64(i+1), "instrument", errors.New("empty instrument"))
		}
	}
	if i, first, ok := firstDuplicate(out.Rows); ok {
		return nil, fail(int64(i+1), "", duplicate(out.Rows[i], fmt.Sprintf("row %d", first+1)))
	}
	return out, nil
}

// checkFooter checks that the footer length a file claims fits in the file,
// before the Parquet reader allocates a buffer of that length.
func checkFooter(r io.ReaderAt, size int64) error {
	if size < 12 {
		return fmt.Errorf("not a Parquet file: %d bytes", size)
	}
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n > size-12 {
		return fmt.Errorf("not a Parquet file: its footer claims %d bytes of a %d-byte file", n, size)
	}
	return nil
}

// maxPageSize bounds the uncompressed size of one page (writers use 1 MiB
// or less), together with ReadOptions.MaxSize.
const maxPageSize = 256 << 20

// checkPages walks the page headers of every column chunk and checks that
// each page fits in its chunk and that its uncompressed size is at most
// maxPage, before the Parquet reader allocates buffers of the sizes the
// headers claim. A header is decoded from a bounded window of the file, so
// a length inside it cannot allocate more than the window either.
func checkPages(r io.ReaderAt, size int64, md *format.FileMetaData, maxPage int64) error {
	const window = 1 << 20
	buf := make([]byte, window)
	proto := new(thrift.CompactProtocol)
	for gi, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			cm := cc.MetaData
			start := cm.DataPageOffset
			if d := cm.DictionaryPageOffset; d > 0 && d < start {
				start = d
			}
			end := start + cm.TotalCompressedSize
			where := fmt.Sprintf("row group %d, column %s", gi, strings.Join(cm.PathInSchema, "."))
			if start < 4 || cm.TotalCompressedSize < 0 || end > size-8 || end < start {
				return fmt.Errorf("%s: chunk [%d, %d) outside the %d-byte file", where, start, end, size)
			}
			for pos := start; pos < end; {
				n := min(end-pos, window)
				if _, err := r.ReadAt(buf[:n], pos); err != nil {
					return fmt.Errorf("%s: read: %w", where, err)
				}
				var h format.PageHeader
				pr := proto.NewReaderFromBytes(buf[:n])
				if err := thrift.NewDecoder(pr).Decode(&h); err != nil {
					return fmt.Errorf("%s: bad page header at byte %d: %w", where, pos, err)
				}
				pos += int64(pr.BytesRead())
				if u := int64(h.UncompressedPageSize); u < 0 || u > maxPage {
					return reasonf(ErrFileTooLarge, "too large: %s: a page of %d bytes uncompressed, over the limit of %d", where, u, maxPage)
				}
				if c := int64(h.CompressedPageSize); c < 0 || c > end-pos {
					return fmt.Errorf("%s: page at byte %d claims %d bytes, past its chunk", where, pos, c)
				}
				pos += int64(h.CompressedPageSize)
			}
		}
	}
	return nil
}

// converter returns the function that stores a value of the named column,
// of type t, into a row.
func converter(name string, t parquet.Type, in interner) (func(*Row, parquet.Value) error, error) {
	unsupported := fmt.Errorf("unsupported type %s", typeName(t))
	switch name {
	case "datetime":
		dt, err := datetimeOf(t)
		if err != nil {
			return nil, err
		}
		return func(r *Row, v parquet.Value) error {
			if v.IsNull() {
				return errors.New("null datetime")
			}
			var err error
			r.Datetime, err = dt(v)
			return err
		}, nil
	case "instrument":
		if k := t.Kind(); k != parquet.ByteArray && k != parquet.FixedLenByteArray {
			return nil, unsupported
		}
		return func(r *Row, v parquet.Value) error {
			if !v.IsNull() {
				r.Instrument = in.get(strings.TrimSpace(string(v.ByteArray())))
			}
			return nil
		}, nil
	}
	num, ok := numberOf(t)
	if !ok {
		return nil, unsupported
	}
	return func(r *Row, v parquet.Value) error {
		x := math.NaN()
		if !v.IsNull() {
			x = num(v)
		}
		if name == "label" {
			r.Label = x
		} else {
			r.Score = x
		}
		return nil
	}, nil
}

func datetimeOf(t parquet.Type) (func(parquet.Value) (time.Time, error), error) {
	lt, ct := t.LogicalType(), t.ConvertedType()
	unit := time.Duration(0)
	switch {
	case lt != nil && lt.Value != nil:
		switch v := lt.Value.(type) {
		case *format.TimestampType:
			if v.Unit.Value != nil {
				unit = v.Unit.Value.Duration()
			}
		case *format.DateType:
			unit = 24 * time.Hour
		}
	case ct != nil && *ct == deprecated.TimestampMillis:
		unit = time.Millisecond
	case ct != nil && *ct == deprecated.TimestampMicros:
		unit = time.Microsecond
	case ct != nil && *ct == deprecated.Date:
		unit = 24 * time.Hour
	}
	switch k := t.Kind(); {
	case unit != 0 && (k == parquet.Int64 || k == parquet.Int32):
		return func(v parquet.Value) (time.Time, error) {
			// Whether or not adjusted to UTC, the stored value read as UTC
			// is the wall clock the package works with.
			n := v.Int64()
			if k == parquet.Int32 {
				n = int64(v.Int32())
			}
			if d := int64(unit); n > math.MaxInt64/d || n < math.MinInt64/d {
				return time.Time{}, fmt.Errorf("datetime %d out of range", n)
			}
			return time.Unix(0, n*int64(unit)).UTC(), nil
		}, nil
	case k == parquet.ByteArray:
		return func(v parquet.Value) (time.Time, error) {
			s := string(v.ByteArray())
			t, err := rolling.ParseDate(s)
			if err != nil {
				return time.Time{}, fmt.Errorf("bad date %q", s)
			}
			return t, nil
		}, nil
	}
	return nil, fmt.Errorf("unsupported type %s: want a timestamp, a date or a string", typeName(t))
}

func numberOf(t parquet.Type) (func(parquet.Value) float64, bool) {
	switch t.Kind() {
	case parquet.Double:
		return func(v parquet.Value) float64 { return v.Double() }, true
	case parquet.Float:
		return func(v parquet.Value) float64 { return float64(v.Float()) }, true
	case parquet.Int32:
		return func(v parquet.Value) float64 { return float64(v.Int32()) }, true
	case parquet.Int64:
		return func(v parquet.Value) float64 { return float64(v.Int64()) }, true
	}
	return nil, false
}

func typeName(t parquet.Type) string {
	if lt := t.LogicalType(); lt != nil && lt.Value != nil {
		return fmt.Sprintf("%s (%s)", t.Kind(), lt)
	}
	return t.Kind().String()
}
