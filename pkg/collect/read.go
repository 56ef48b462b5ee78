package collect

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/taskfleet/taskfleet/pkg/rolling"
)

// Default limits of the prediction and label readers.
const (
	// DefaultMaxFileSize bounds one prediction or label file: 1 GiB.
	DefaultMaxFileSize int64 = 1 << 30
	// DefaultMaxRows bounds the rows of one file: 2^25 (33,554,432), about
	// 2 GiB as a Frame.
	DefaultMaxRows int64 = 1 << 25
)

// ReadOptions configure ReadCSV, ReadParquet, ReadFrame and ReadLabels.
type ReadOptions struct {
	// Name names the file in errors ("pred.csv:17: ..."); ReadFrame picks
	// the format by its extension (.csv or .parquet).
	Name string
	// MaxSize bounds the file, in bytes: a larger file is rejected before
	// anything is allocated for it. Zero means DefaultMaxFileSize, negative
	// no limit.
	MaxSize int64
	// MaxRows bounds the rows of the file (a small Parquet file can encode
	// many rows). Zero means DefaultMaxRows, negative no limit.
	MaxRows int64
	// TempDir is where ReadFrame spools a Parquet stream. Default
	// os.TempDir().
	TempDir string
}

func (o ReadOptions) limit(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return math.MaxInt64
	}
	return v
}

func (o ReadOptions) maxSize() int64 { return o.limit(o.MaxSize, DefaultMaxFileSize) }
func (o ReadOptions) maxRows() int64 { return o.limit(o.MaxRows, DefaultMaxRows) }

// ParseError is a malformed prediction or label file, at a CSV line or a
// Parquet row:
//
//	pred.csv:17: column "score": bad number "abc"
//	pred.parquet: row 3: duplicate row for 2020-01-02 SH600000 (first at row 1)
//
// It matches ErrBadFile and its cause with errors.Is.
type ParseError struct {
	File   string
	Line   int64  // CSV line, 1-based; 0 when not about a line
	Row    int64  // Parquet row, 1-based; 0 when not about a row
	Column string // empty when not about one column
	Err    error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Row > 0 {
		fmt.Fprintf(&b, ": row %d", e.Row)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns ErrBadFile and the cause.
func (e *ParseError) Unwrap() []error { return []error{ErrBadFile, e.Err} }

// fileSpec says which columns a reader needs: predictions need score, labels
// need label.
type fileSpec struct{ labels bool }

func (s fileSpec) required() []string {
	if s.labels {
		return []string{"datetime", "instrument", "label"}
	}
	return []string{"datetime", "instrument", "score"}
}

// ReadFrame reads a prediction file from a stream, by the extension of
// o.Name: .csv (ReadCSV) or .parquet (ReadParquet). size is the stream's
// length when known (a stored artifact's size), or -1; a size over
// o.MaxSize is rejected before reading.
//
// Parquet needs random access, so the stream is first spooled to a file in
// o.TempDir (removed on return), never more than o.MaxSize bytes. A file
// rather than memory: a prediction file may be hundreds of megabytes, and
// on disk it costs no heap on top of the decoded frame.
func ReadFrame(ctx context.Context, r io.Reader, size int64, o ReadOptions) (*Frame, error) {
	return readFile(ctx, r, size, o, fileSpec{})
}

func readFile(ctx context.Context, r io.Reader, size int64, o ReadOptions, spec fileSpec) (*Frame, error) {
	if size > o.maxSize() {
		return nil, tooLarge(o, size)
	}
	switch strings.ToLower(filepath.Ext(o.Name)) {
	case ".csv":
		return readCSV(ctx, r, o, spec)
	case ".parquet", ".pq":
		f, n, err := spool(r, o)
		if err != nil {
			return nil, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		return readParquet(ctx, f, n, o, spec)
	}
	return nil, &ParseError{File: o.Name, Err: errors.New("unknown format: want a .csv or .parquet file")}
}

func tooLarge(o ReadOptions, size int64) error {
	msg := fmt.Sprintf("too large: over the limit of %d bytes", o.maxSize())
	if size >= 0 {
		msg = fmt.Sprintf("too large: %d bytes, over the limit of %d", size, o.maxSize())
	}
	return &ParseError{File: o.Name, Err: reasonf(ErrFileTooLarge, "%s", msg)}
}

// spool copies r into a temporary file, at most o.MaxSize bytes.
func spool(r io.Reader, o ReadOptions) (*os.File, int64, error) {
	f, err := os.CreateTemp(o.TempDir, "taskfleet-pred-*.parquet")
	if err != nil {
		return nil, 0, fmt.Errorf("collect: %s: spool: %w", o.Name, err)
	}
	limit := o.maxSize()
	n, err := io.Copy(f, io.LimitReader(r, limit+min(1, math.MaxInt64-limit)))
	if err == nil && n > limit {
		err = tooLarge(o, -1)
	} else if err != nil {
		err = fmt.Errorf("collect: %s: read: %w", o.Name, err)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	return f, n, nil
}

// ReadCSV reads a prediction file in CSV. The header names the columns, in
// any order: datetime, instrument and score are required, label is optional
// (it enables IC), other columns are ignored (a frame written by pandas'
// to_csv reads as is). Dates are those rolling.ParseDate reads
// ("2020-01-02", "2020-01-02 15:00:00", RFC 3339); a number that is empty,
// NaN, NA or null is NaN. A bad header, date or number, an empty instrument
// or a second row for one (datetime, instrument) is a *ParseError naming
// o.Name and the line; a file over o.MaxSize bytes or o.MaxRows rows is one
// wrapping ErrFileTooLarge.
func ReadCSV(r io.Reader, o ReadOptions) (*Frame, error) {
	return readCSV(context.Background(), r, o, fileSpec{})
}

func readCSV(ctx context.Context, r io.Reader, o ReadOptions, spec fileSpec) (*Frame, error) {
	lr := &limitedReader{r: r, left: o.maxSize()}
	cr := csv.NewReader(lr)
	cr.ReuseRecord = true
	fail := func(line int64, column string, err error) error {
		return &ParseError{File: o.Name, Line: line, Column: column, Err: err}
	}
	readErr := func(err error) error {
		var pe *csv.ParseError
		switch {
		case lr.over:
			return tooLarge(o, -1)
		case errors.As(err, &pe):
			return fail(int64(pe.Line), "", pe.Err)
		}
		return fail(0, "", err)
	}
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fail(0, "", errors.New("empty file, want a header line"))
	}
	if err != nil {
		return nil, readErr(err)
	}
	cols := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := cols[h]; dup && h != "" {
			return nil, fail(1, h, errors.New("column appears twice"))
		}
		cols[h] = i
	}
	for _, c := range spec.required() {
		if _, ok := cols[c]; !ok {
			return nil, fail(1, "", fmt.Errorf("missing column %q (header: %s)", c, strings.Join(header, ",")))
		}
	}
	dtCol, instCol := cols["datetime"], cols["instrument"]
	scoreCol, hasScore := cols["score"]
	labelCol, hasLabel := cols["label"]

	out := &Frame{HasLabel: hasLabel}
	var lines []int64
	names := interner{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, readErr(err)
		}
		l, _ := cr.FieldPos(0)
		line := int64(l)
		if int64(len(out.Rows)) >= o.maxRows() {
			return nil, fail(line, "", reasonf(ErrFileTooLarge, "too large: more than %d rows", o.maxRows()))
		}
		if len(out.Rows)%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		row := Row{Score: math.NaN(), Label: math.NaN()}
		if row.Datetime, err = rolling.ParseDate(rec[dtCol]); err != nil {
			return nil, fail(line, "datetime", fmt.Errorf("bad date %q", rec[dtCol]))
		}
		if row.Instrument = names.get(strings.TrimSpace(rec[instCol])); row.Instrument == "" {
			return nil, fail(line, "instrument", errors.New("empty instrument"))
		}
		if hasScore {
			if row.Score, err = ParseNumber(rec[scoreCol]); err != nil {
				return nil, fail(line, "score", err)
			}
		}
		if hasLabel {
			if row.Label, err = ParseNumber(rec[labelCol]); err != nil {
				return nil, fail(line, "label", err)
			}
		}
		out.Rows = append(out.Rows, row)
		lines = append(lines, line)
	}
	if i, first, ok := firstDuplicate(out.Rows); ok {
		return nil, fail(lines[i], "", duplicate(out.Rows[i], fmt.Sprintf("line %d", lines[first])))
	}
	return out, nil
}

// limitedReader reads at most left bytes and records whether r had more.
type limitedReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a file of exactly the limit from a longer one.
		var b [1]byte
		if n, _ := l.r.Read(b[:]); n > 0 {
			l.over = true
			return 0, ErrFileTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// ParseNumber parses a number of a CSV file: the empty string and the
// spellings pandas writes for a missing value (NaN, NA, N/A, null, None)
// are NaN; anything else that is not a float is an error quoting it.
func ParseNumber(s string) (float64, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "nan", "na", "n/a", "null", "none":
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return v, nil
}

// interner shares one string per instrument: a file repeats a few thousand
// names millions of times, and a CSV field would otherwise keep its whole
// line alive.
type interner map[string]string

func (in interner) get(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	v := strings.Clone(s)
	in[v] = v
	return v
}

// firstDuplicate finds, in file order, the first row whose (datetime,
// instrument) an earlier row has, and that earlier row. It sorts a
// permutation rather than filling a map: 4 bytes a row.
func firstDuplicate(rows []Row) (dup, first int, ok bool) {
	perm := make([]int32, len(rows))
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortStableFunc(perm, func(a, b int32) int { return compareIndex(rows[a], rows[b]) })
	dup = len(rows)
	for i, start := 1, 0; i < len(perm); i++ {
		if compareIndex(rows[perm[start]], rows[perm[i]]) != 0 {
			start = i
			continue
		}
		if int(perm[i]) < dup {
			dup, first = int(perm[i]), int(perm[start])
		}
	}
	return dup, first, dup < len(rows)
}

func duplicate(r Row, first string) error {
	return reasonf(ErrDuplicateRow, "duplicate row for %s %s (first at %s)", formatDatetime(r.Datetime), r.Instrument, first)
}

func formatDatetime(t time.Time) string {
	if t = t.UTC(); t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format(dateTimeLayout)
}
