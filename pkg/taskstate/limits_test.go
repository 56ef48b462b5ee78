package taskstate

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/gobcodec/gobbomb"
)

type limitsNode struct {
	Name string
	Next *limitsNode
}

func TestCodecRefusesDeepValues(t *testing.T) {
	cyc := &limitsNode{Name: "a"}
	cyc.Next = cyc
	for _, c := range []Codec{{}, NewCodec(0)} {
		// 10k levels: refused before gob, which took gigabytes for it.
		var before, after runtime.MemStats
		deep := gobbomb.NestedValue(10_000)
		runtime.ReadMemStats(&before)
		_, err := c.Encode(deep)
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, ErrPayloadTooDeep)
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
		require.Contains(t, err.Error(), "0.0.0.0", "the dotted path")

		// The limit is the decoder's: 1,000 levels encode and decode.
		b, err := c.Encode(gobbomb.NestedValue(DefaultMaxDepth))
		require.NoError(t, err)
		_, err = c.Decode(b)
		require.NoError(t, err)
		_, err = c.Encode(gobbomb.NestedValue(DefaultMaxDepth + 1))
		require.ErrorIs(t, err, ErrPayloadTooDeep)

		// Typed values: a cycle through a pointer is refused, not followed forever.
		_, err = c.Encode(cyc)
		require.ErrorIs(t, err, ErrPayloadTooDeep)
		require.Contains(t, err.Error(), "Next.Next")
		_, err = c.Encode(map[string]any{"m": map[string]limitsNode{"k": {Next: cyc}}})
		require.ErrorIs(t, err, ErrPayloadTooDeep)
		require.True(t, strings.HasPrefix(strings.TrimPrefix(err.Error(), "taskstate: encode map[string]interface {}: "), "m.k.Next.Next"), err.Error())

		small := c
		small.MaxDepth = 2
		_, err = small.Encode(map[string]any{"a": []any{1}})
		require.NoError(t, err)
		_, err = small.Encode(map[string]any{"a": []any{[]any{}}})
		require.ErrorIs(t, err, ErrPayloadTooDeep)
		// Containers of numbers and opaque types are one level, whatever their length.
		_, err = small.Encode(map[string]any{"a": make([]float64, 1000), "t": time.Now()})
		require.NoError(t, err)
	}
}

func TestCodecDecodeBombs(t *testing.T) {
	for _, c := range []Codec{{}, NewCodec(0)} {
		for _, b := range []struct {
			data []byte
			want error
		}{
			{gobbomb.MapHeader(1 << 26), ErrPayloadLength},
			{gobbomb.NestedSlices(600_000), ErrPayloadTooDeep},
			{gobbomb.NestedSlices(10_000), ErrPayloadTooDeep},
		} {
			require.Less(t, len(b.data), DefaultMaxPayload)
			v, err := c.Decode(b.data)
			require.Nil(t, v)
			require.ErrorIs(t, err, ErrDecode)
			require.ErrorIs(t, err, b.want)
			require.True(t, noRetry(err), "never retried")
			_, err = DecodeAs[map[string]any](c, b.data)
			require.ErrorIs(t, err, b.want)
		}
		small := c
		small.MaxDepth = 5
		_, err := small.Decode(gobbomb.NestedSlices(6))
		require.ErrorIs(t, err, ErrPayloadTooDeep)
		v, err := small.Decode(gobbomb.NestedSlices(5))
		require.NoError(t, err)
		require.NotNil(t, v)
	}
}

func TestCheckPayloadUTF8(t *testing.T) {
	for _, tc := range []struct {
		def  any
		path string
	}{
		{map[string]any{"ok": "fine", "bad": "x\xff"}, `def.bad: taskstate: not valid UTF-8: string "x\xff"`},
		{map[string]any{"a\xffb": 1}, `def: taskstate: not valid UTF-8: map key "a\xffb"`},
		{map[string]any{"m": map[string]any{"list": []any{"a", "b", "\xc3"}}}, `def.m.list.2: `},
		{"\xff", `def: `},
		{limitsNode{Name: "ok", Next: &limitsNode{Name: "\xfe"}}, `def.Next.Name: `},
		{map[string][]string{"k": {"\xfe"}}, `def.k.0: `},
		{map[string]int{"\xfe": 1}, `def: taskstate: not valid UTF-8: map key`},
	} {
		err := checkPayload(tc.def, "def", 0, true, nil)
		require.ErrorIs(t, err, ErrInvalidUTF8, "%#v", tc.def)
		require.True(t, strings.HasPrefix(err.Error(), tc.path), "%q, want %q", err.Error(), tc.path)
		require.NoError(t, checkPayload(tc.def, "def", 0, false, nil), "results may hold any bytes")
	}
	require.NoError(t, checkPayload(map[string]any{"é": []any{"ü", 1.5, nil, true}}, "def", 0, true, nil))
}

func TestTypeDepth(t *testing.T) {
	type flat struct {
		A    int
		B    []string
		When time.Time
		m    map[string]any //nolint:unused // unexported: gob does not send it, depth does not count it
	}
	type withAny struct{ X any }
	c := new(shapeCache)
	for _, tc := range []struct {
		v    any
		want int
	}{
		{1, 0}, {"s", 0}, {time.Now(), 0},
		{flat{}, 2}, {[]flat{}, 3}, {map[string][]map[int]float64{}, 3}, {&flat{}, 3},
		{withAny{}, -1}, {[]any{}, -1}, {limitsNode{}, -1},
	} {
		for range 2 { // computed, then cached
			require.Equal(t, tc.want, c.of(reflect.TypeOf(tc.v)).depth, "%T", tc.v)
		}
	}
	// A typed value within the limit is not walked; past it, its levels
	// are counted as for any value.
	require.NoError(t, RegisterType(flat{}))
	require.NoError(t, RegisterType([]flat{}))
	small := NewCodec(0)
	small.MaxDepth = 2
	_, err := small.Encode(flat{B: []string{"x"}})
	require.NoError(t, err)
	_, err = small.Encode([]flat{{}})
	require.ErrorIs(t, err, ErrPayloadTooDeep)
	_, err = small.Encode(map[string]any{"f": []flat{{}}})
	require.ErrorIs(t, err, ErrPayloadTooDeep)
}

// BenchmarkCheckPayload prices the nesting walk alone: what every encode
// pays on top of gob.
func BenchmarkCheckPayload(b *testing.B) {
	doc := make(map[string]any, 10_000)
	for i := range 10_000 {
		doc[string(rune('a'+i%26))+string(rune(0x100+i))] = map[string]any{"mean": float64(i) / 7, "tags": []any{"a", i}}
	}
	shapes := new(shapeCache)
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"struct", codecTestSmall{Model: "ridge-regression", Segment: "2020-01-01/2020-02-01", Seed: 42, Dry: true}},
		{"nested", codecTestNested{Inner: codecTestInner{Key: "in", Count: 2}, Items: []codecTestInner{{Key: "a"}, {Key: "b"}},
			When: time.Unix(1700000000, 5).UTC(), ByKey: map[string]int{"k": 1}}},
		{"map", map[string]any{"model": map[string]any{"class": "Linear", "alpha": 0.5}, "seg": []any{"2020-01-01", "2020-02-01"}, "n": 3}},
		{"doc", doc},
		{"floats", map[string]any{"pred": make([]float64, 100_000)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if err := checkPayload(tc.v, "", 0, false, shapes); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
