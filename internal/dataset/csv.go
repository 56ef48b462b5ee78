package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/taskfleet/taskfleet/pkg/collect"
	"github.com/taskfleet/taskfleet/pkg/rolling"
)

// ParseError reports a malformed CSV file at a line:
//
//	data.csv:17: column "f3": bad number "abc"
type ParseError struct {
	File   string
	Line   int    // 1-based; 0 when the error is about the whole file
	Column string // empty when the error is not about one column
	Err    error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// LoadCSV reads a panel from a CSV file; see ReadCSV. Errors name the path as
// given.
func LoadCSV(path string) (*Panel, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	return ReadCSV(f, path)
}

// ReadCSV reads a panel from CSV. The header names the columns: "datetime",
// "instrument" and "label" are required, in any position, and every other
// column is a feature, in file order. A value that is empty, NaN, NA or null
// is missing (NaN). Errors are *ParseError values naming name and the line.
func ReadCSV(r io.Reader, name string) (*Panel, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	fail := func(line int, column string, err error) error {
		return &ParseError{File: name, Line: line, Column: excerpt(column), Err: err}
	}
	readErr := func(err error) error {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return fail(pe.Line, "", pe.Err)
		}
		return fail(0, "", err)
	}

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fail(0, "", errors.New("empty file, want a header line"))
	}
	if err != nil {
		return nil, readErr(err)
	}
	dtCol, instCol, labelCol := -1, -1, -1
	var features []string
	var featCols []int
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if seen[h] {
			return nil, fail(1, h, errors.New("column appears twice"))
		}
		seen[h] = true
		switch h {
		case "datetime":
			dtCol = i
		case "instrument":
			instCol = i
		case "label":
			labelCol = i
		case "":
			return nil, fail(1, "", fmt.Errorf("column %d has no name", i+1))
		default:
			features = append(features, h)
			featCols = append(featCols, i)
		}
	}
	for _, c := range []struct {
		name string
		idx  int
	}{{"datetime", dtCol}, {"instrument", instCol}, {"label", labelCol}} {
		if c.idx < 0 {
			return nil, fail(1, "", fmt.Errorf("missing column %q (header: %s)", c.name, excerpt(strings.Join(header, ","))))
		}
	}
	if len(features) == 0 {
		return nil, fail(1, "", errors.New("no feature columns: want datetime, instrument, features..., label"))
	}

	var rows []Row
	firstLine := make(map[rowKey]int)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, readErr(err)
		}
		line, _ := cr.FieldPos(0)

		dt, err := rolling.ParseDate(rec[dtCol])
		if err != nil {
			return nil, fail(line, "datetime", fmt.Errorf("bad date %q", excerpt(rec[dtCol])))
		}
		inst := strings.TrimSpace(rec[instCol])
		if inst == "" {
			return nil, fail(line, "instrument", errors.New("empty instrument"))
		}
		k := rowKey{dt.UnixNano(), inst}
		if first, dup := firstLine[k]; dup {
			return nil, fail(line, "", fmt.Errorf("duplicate row for %s %s (first on line %d)", FormatDate(dt), excerpt(inst), first))
		}
		firstLine[k] = line

		vals := make([]float64, len(featCols))
		for j, c := range featCols {
			if vals[j], err = collect.ParseNumber(rec[c]); err != nil {
				return nil, fail(line, features[j], fmt.Errorf("bad number %q", excerpt(strings.TrimSpace(rec[c]))))
			}
		}
		label, err := collect.ParseNumber(rec[labelCol])
		if err != nil {
			return nil, fail(line, "label", fmt.Errorf("bad number %q", excerpt(strings.TrimSpace(rec[labelCol]))))
		}
		rows = append(rows, Row{Datetime: dt, Instrument: inst, Features: vals, Label: label})
	}
	p, err := NewPanel(features, rows)
	if err != nil {
		return nil, fail(0, "", err)
	}
	return p, nil
}

type rowKey struct {
	unixNano   int64
	instrument string
}

// WriteCSV writes p in the layout ReadCSV reads: datetime, instrument, the
// features, label. NaN is written as an empty field.
func (p *Panel) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	rec := make([]string, 0, len(p.Features)+3)
	rec = append(append(append(rec, "datetime", "instrument"), p.Features...), "label")
	if err := cw.Write(rec); err != nil {
		return fmt.Errorf("dataset: write csv: %w", err)
	}
	for _, r := range p.Rows {
		rec = append(rec[:0], FormatDate(r.Datetime), r.Instrument)
		for _, v := range r.Features {
			rec = append(rec, formatFloat(v))
		}
		rec = append(rec, formatFloat(r.Label))
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("dataset: write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("dataset: write csv: %w", err)
	}
	return nil
}

func formatFloat(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
