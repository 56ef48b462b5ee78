package gobcodec

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/gobcodec/gobbomb"
)

// bomb is a hostile payload and the error Check gives it.
type bomb struct {
	name string
	data []byte
	want error
}

func bombs(tb testing.TB) []bomb {
	tb.Helper()
	deep := gobbomb.NestedSlices(600_000)
	require.Less(tb, len(deep), 15<<20, "under taskstate's 15 MiB cap")
	return []bomb{
		{"map header claiming 2^26 entries", gobbomb.MapHeader(1 << 26), ErrTooLarge},
		{"map header claiming 2^62 entries", gobbomb.MapHeader(1 << 62), ErrTooLarge},
		{"600k nested []any", deep, ErrTooDeep},
		{"10k nested []any", gobbomb.NestedSlices(10_000), ErrTooDeep},
		{"1001 nested []any", gobbomb.NestedSlices(DefaultMaxDepth + 1), ErrTooDeep},
	}
}

func TestBombBuilders(t *testing.T) {
	// The builders write payloads that gob decodes to the values meant.
	m, err := DecodeFresh(gobbomb.MapHeader(0))
	require.NoError(t, err)
	require.Equal(t, map[string]any{}, m)
	b, err := EncodeFresh([]any{[]any{[]any{}}})
	require.NoError(t, err)
	v, err := DecodeFresh(gobbomb.NestedSlices(3))
	require.NoError(t, err)
	w, err := DecodeFresh(b)
	require.NoError(t, err)
	require.Equal(t, w, v)
	require.Len(t, gobbomb.MapHeader(1<<26), 50)
}

func TestCheckRefusesBombs(t *testing.T) {
	c := NewDecoderCache(0)
	for _, b := range bombs(t) {
		t.Run(b.name, func(t *testing.T) {
			err := Check(b.data, 0)
			require.ErrorIs(t, err, b.want)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			v, derr := c.Decode(b.data)
			runtime.ReadMemStats(&after)
			require.Nil(t, v)
			require.ErrorIs(t, derr, b.want)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "refused before allocating")
			_, derr = (*DecoderCache)(nil).Decode(b.data)
			require.ErrorIs(t, derr, b.want, "without a cache too")
		})
	}
}

func TestCheckDepthLimit(t *testing.T) {
	ok := gobbomb.NestedSlices(DefaultMaxDepth)
	require.NoError(t, Check(ok, 0))
	v, err := NewDecoderCache(0).Decode(ok)
	require.NoError(t, err)
	require.NotNil(t, v)
	require.ErrorIs(t, Check(gobbomb.NestedSlices(DefaultMaxDepth+1), 0), ErrTooDeep)
	require.NoError(t, Check(gobbomb.NestedSlices(DefaultMaxDepth+1), DefaultMaxDepth+1))
	require.ErrorIs(t, Check(gobbomb.NestedSlices(11), 10), ErrTooDeep)
	_, err = NewDecoderCache(0).DecodeLimit(gobbomb.NestedSlices(11), 10)
	require.ErrorIs(t, err, ErrTooDeep)
	// A struct is a level too.
	b, err := EncodeFresh(codecTestDef{Params: map[string]any{"a": []any{1}}})
	require.NoError(t, err)
	require.NoError(t, Check(b, 3))
	require.ErrorIs(t, Check(b, 2), ErrTooDeep)
}

// TestCheckAcceptsEncoded: everything the tests encode passes Check,
// truncated payloads do not.
func TestCheckAcceptsEncoded(t *testing.T) {
	for i, b := range encodeAll(t, codecTestValues()) {
		require.NoError(t, Check(b, 0), "value %d", i)
		for cut := 1; cut < len(b); cut += 7 {
			err := Check(b[:len(b)-cut], 0)
			require.Error(t, err, "value %d cut by %d", i, cut)
			require.True(t, errors.Is(err, ErrTooLarge) || errors.Is(err, ErrMalformed), "%v", err)
		}
	}
}

// TestDecodeMemoryBounded decodes big payloads of small entries: what gob
// allocates is a small multiple of the payload's size.
func TestDecodeMemoryBounded(t *testing.T) {
	m := make(map[string]any, 20000)
	for i := range 20000 {
		m[string(rune('a'+i%26))+string(rune(0x100+i))] = nil
	}
	list := make([]any, 50000)
	for _, v := range []any{m, list} {
		b, err := EncodeFresh(v)
		require.NoError(t, err)
		require.NoError(t, Check(b, 0))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got, err := (*DecoderCache)(nil).Decode(b)
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		require.NotNil(t, got)
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64*len(b)), "%T of %d bytes", v, len(b))
	}
	// A valid map header of n entries needs 2n bytes after it.
	short := gobbomb.MapHeader(3)
	require.ErrorIs(t, Check(short, 0), ErrTooLarge)
	require.True(t, bytes.HasSuffix(short, []byte{0x03}))
}

// BenchmarkCheck prices Check alone: what a decode that misses the cache
// pays on top of gob.
func BenchmarkCheck(b *testing.B) {
	doc := make(map[string]any, 10_000)
	for i := range 10_000 {
		doc[string(rune('a'+i%26))+string(rune(0x100+i))] = map[string]any{"mean": float64(i) / 7, "tags": []any{"a", i}}
	}
	floats := make([]float64, 100_000)
	for i := range floats {
		floats[i] = float64(i) * 1.5
	}
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"struct", codecTestSmall{Model: "ridge-regression", Segment: "2020-01-01/2020-02-01", Seed: 42, Dry: true}},
		{"map", map[string]any{"model": map[string]any{"class": "Linear", "alpha": 0.5}, "seg": []any{"2020-01-01", "2020-02-01"}, "n": 3}},
		{"doc", doc},
		{"floats", map[string]any{"pred": floats}},
	} {
		p, err := EncodeFresh(tc.v)
		require.NoError(b, err)
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if err := Check(p, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
