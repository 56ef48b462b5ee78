package collect_test

import (
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/collect"
)

// FuzzRollingEnsemble checks the stitching rules on arbitrary windows: the
// output is sorted and unique, covers every input row, and each row comes
// from a window with the latest start among those that contain it.
func FuzzRollingEnsemble(f *testing.F) {
	f.Add([]byte{0, 5, 3, 4, 2, 6})
	f.Add([]byte{1, 1, 1, 1})
	f.Add([]byte{9, 0, 2, 200, 7, 3, 7, 3})
	f.Fuzz(func(t *testing.T, spec []byte) {
		base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		c := collect.Collection{}
		type window struct{ start, end int }
		var windows []window
		// Each pair of bytes is a window: start day and length (days); each
		// day has rows for instruments A and, on even days, B. A row's score
		// is its window's index.
		for i := 0; i+1 < len(spec) && i < 40; i += 2 {
			start, length := int(spec[i]%32), int(spec[i+1]%8)
			w := len(windows)
			windows = append(windows, window{start, start + length - 1})
			fr := &collect.Frame{}
			for d := start; d < start+length; d++ {
				dt := base.AddDate(0, 0, d)
				fr.Rows = append(fr.Rows, collect.Row{Datetime: dt, Instrument: "A", Score: float64(w)})
				if d%2 == 0 {
					fr.Rows = append(fr.Rows, collect.Row{Datetime: dt, Instrument: "B", Score: float64(w)})
				}
			}
			c[collect.StrKey(fmt.Sprintf("w%03d", w))] = fr
		}
		got, err := collect.RollingEnsemble{}.Frame(c)
		if len(c) == 0 {
			require.ErrorIs(t, err, collect.ErrEmpty)
			return
		}
		require.NoError(t, err)

		want := 0
		for d := range 40 {
			for _, inst := range []string{"A", "B"} {
				if inst == "B" && d%2 != 0 {
					continue
				}
				latest := -1
				for _, w := range windows {
					if d >= w.start && d <= w.end && w.start > latest {
						latest = w.start
					}
				}
				if latest >= 0 {
					want++
				}
			}
		}
		require.Len(t, got.Rows, want, "every (datetime, instrument) exactly once")
		for i, r := range got.Rows {
			if i > 0 {
				prev := got.Rows[i-1]
				require.True(t, prev.Datetime.Before(r.Datetime) ||
					(prev.Datetime.Equal(r.Datetime) && prev.Instrument < r.Instrument), "sorted and unique")
			}
			d := int(r.Datetime.Sub(base).Hours() / 24)
			w := windows[int(r.Score)]
			require.True(t, d >= w.start && d <= w.end, "the row comes from a window that has it")
			for _, o := range windows {
				if d >= o.start && d <= o.end {
					require.LessOrEqual(t, o.start, w.start, "day %d: a window starting later (%d) has it", d, o.start)
				}
			}
		}
	})
}

// FuzzKey checks that keys survive their text form and keep their elements.
func FuzzKey(f *testing.F) {
	f.Add("LGBModel", "2017-01-01", int64(3))
	f.Add("", "\x00", int64(-1))
	f.Fuzz(func(t *testing.T, a, b string, n int64) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			t.Skip("key strings are JSON strings: invalid UTF-8 becomes U+FFFD")
		}
		k, err := collect.NewKey(a, []string{b}, n)
		require.NoError(t, err)
		require.Equal(t, 3, k.Len())
		require.Equal(t, a, k.StringAt(0))
		require.Equal(t, []any{b}, k.At(1))
		text, err := k.MarshalText()
		require.NoError(t, err)
		var back collect.Key
		require.NoError(t, back.UnmarshalText(text))
		require.Equal(t, k, back)
		require.Equal(t, k, k.Slice(0, 1).Concat(k.Slice(1, 3)))
	})
}

// TestImports keeps collect independent of the task store and every backend:
// it may import only the standard library and a few computation libraries.
func TestImports(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	allowed := []string{
		"go.uber.org/zap", "github.com/sourcegraph/conc/", "gonum.org/v1/gonum/", "github.com/parquet-go/parquet-go",
		"github.com/taskfleet/taskfleet/pkg/rolling", // ParseDate: prediction files read dates as the rest of the tree does
	}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range af.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err)
			if !strings.Contains(strings.Split(path, "/")[0], ".") {
				continue // standard library
			}
			ok := false
			for _, prefix := range allowed {
				ok = ok || path == prefix || strings.HasPrefix(path, prefix)
			}
			require.True(t, ok, "%s imports %s", file, path)
		}
	}
}
