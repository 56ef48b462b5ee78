package taskstate

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/gobcodec"
)

func TestCodecRoundTripAndCap(t *testing.T) {
	c := Codec{}
	def := map[string]any{"model": map[string]any{"class": "Linear"}, "seg": []any{"2020-01-01", nil}, "n": 3}
	b, err := c.Encode(def)
	require.NoError(t, err)
	v, err := c.Decode(b)
	require.NoError(t, err)
	require.Equal(t, def, v)

	small := Codec{MaxSize: 64}
	_, err = small.Encode(make([]byte, 100))
	require.ErrorIs(t, err, ErrPayloadTooLarge)
	_, err = small.Decode(make([]byte, 100))
	require.ErrorIs(t, err, ErrPayloadTooLarge)

	_, err = c.Decode([]byte("not gob at all"))
	require.ErrorIs(t, err, ErrDecode)
	_, err = c.Encode(func() {})
	require.Error(t, err)
}

func TestConvertDocumentToStruct(t *testing.T) {
	type Def struct {
		Duration string `json:"duration"`
		Fail     int    `json:"fail_attempts"`
	}
	got, err := Convert[Def](map[string]any{"duration": "3ms", "fail_attempts": 2.0})
	require.NoError(t, err)
	require.Equal(t, Def{Duration: "3ms", Fail: 2}, got)
	_, err = Convert[Def](map[string]any{"duration": 5})
	require.ErrorIs(t, err, ErrDecode)
}

func TestKeyIsCanonical(t *testing.T) {
	a, err := ToFilter(map[string]any{"b": 1, "a": []any{1, "x"}})
	require.NoError(t, err)
	b, err := ToFilter(map[string]any{"a": []any{1.0, "x"}, "b": 1.0})
	require.NoError(t, err)
	require.Equal(t, Key("k", a), Key("k", b))
	require.NotEqual(t, Key("k", a), Key("other", a))
}

// TestToFilterFastPath: a def that is already a JSON document (as decoded
// from a task file) is its own filter, exactly what the JSON round trip
// gives; anything else takes the round trip.
func TestToFilterFastPath(t *testing.T) {
	roundTrip := func(v any) map[string]any {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		var out map[string]any
		require.NoError(t, json.Unmarshal(b, &out))
		return out
	}
	doc := map[string]any{"model": map[string]any{"class": "LGBModel", "kwargs": map[string]any{"lr": 0.05, "neg": math.Copysign(0, -1)}},
		"segments": []any{"2020-01-01", nil, true, 1e300, []any{}}, "html": "<a & b>", "ü": "日本"}
	got, err := ToFilter(doc)
	require.NoError(t, err)
	require.Equal(t, roundTrip(doc), got)
	require.Equal(t, reflect.ValueOf(doc).Pointer(), reflect.ValueOf(got).Pointer(), "a JSON document is its own filter")

	for _, def := range []map[string]any{
		{"i": 1},                  // an int becomes a float64
		{"s": "bad \xff byte"},    // invalid UTF-8 becomes U+FFFD
		{"deep": []any{int64(2)}}, // nested non-JSON type
	} {
		got, err := ToFilter(def)
		require.NoError(t, err)
		require.Equal(t, roundTrip(def), got, "%v", def)
		require.NotEqual(t, reflect.ValueOf(def).Pointer(), reflect.ValueOf(got).Pointer(), "%v takes the round trip", def)
	}
}

// Types for the codec tests and benchmarks; internal/gobcodec tests the
// caches themselves on many more shapes.
type (
	codecTestSmall struct { // about the size of a typical typed def
		Model   string
		Segment string
		Seed    int
		Dry     bool
	}
	codecTestInner struct {
		Key   string
		Count uint16
	}
	codecTestNested struct { // as in gobcodec's tests, so the benchmark payload is the same
		Inner  codecTestInner
		Items  []codecTestInner
		Ptr    *codecTestInner
		When   time.Time
		ByKey  map[string]int
		Grid   [2][2]int8
		Tree   *codecTestNode
		Raw    []byte
		hidden int //nolint:unused // unexported: not sent, but part of the type
		C      complex128
		U      uint64
	}
	codecTestNode struct { // recursive
		Name string
		Kids []codecTestNode
		Next *codecTestNode
	}
	codecTestUnregistered struct{ A int }
)

func init() {
	for _, v := range []any{codecTestSmall{}, codecTestInner{}, codecTestNested{}, codecTestNode{}} {
		if err := RegisterType(v); err != nil {
			panic(err)
		}
	}
}

// TestCodecCachedAndFresh checks that a Codec with caches (NewCodec, a
// Manager's) and the zero Codec give the same payloads and values.
func TestCodecCachedAndFresh(t *testing.T) {
	cached := NewCodec(0)
	for _, v := range []any{
		codecTestSmall{Model: "ridge", Seed: 42, Dry: true},
		codecTestNested{Inner: codecTestInner{Key: "k"}, When: time.Unix(5, 0).UTC(), ByKey: map[string]int{"a": 1}},
		[]any{"x", nil},
		map[string]any{"model": map[string]any{"class": "Linear"}}, // one key per map: the bytes do not depend on map order
		7, "s",
	} {
		for range 3 { // the first round fills the caches, the others use them
			want, err := Codec{}.Encode(v)
			require.NoError(t, err)
			got, err := cached.Encode(v)
			require.NoError(t, err)
			require.Equal(t, want, got, "%T", v)
			dv, err := cached.Decode(got)
			require.NoError(t, err)
			require.Equal(t, v, dv)
			dv, err = Codec{}.Decode(got)
			require.NoError(t, err)
			require.Equal(t, v, dv)
		}
	}

	m, err := NewManager(Config{Store: nopStore{}, Pool: "p", Codec: Codec{MaxSize: 64}})
	require.NoError(t, err)
	require.NotNil(t, m.Codec().dec, "a Manager owns caches")
	require.NotNil(t, m.Codec().enc)
	require.Equal(t, 64, m.Codec().MaxSize)
	own := NewCodec(0)
	m, err = NewManager(Config{Store: nopStore{}, Pool: "p", Codec: own})
	require.NoError(t, err)
	require.Same(t, own.dec, m.Codec().dec, "a Codec with caches is kept as it is")
}

// nopStore is a Store that NewManager accepts; the codec tests never call it.
type nopStore struct{ Store }

func TestCodecEncodeErrors(t *testing.T) {
	for _, c := range []Codec{{}, NewCodec(0)} {
		for _, v := range []any{codecTestUnregistered{A: 1}, func() {}, make(chan int)} {
			_, fresh := gobcodec.EncodeFresh(v)
			require.Error(t, fresh)
			for range 2 {
				_, err := c.Encode(v)
				require.Error(t, err)
				require.True(t, strings.HasPrefix(err.Error(), "taskstate: gob encode "), err.Error())
				require.Equal(t, fresh, errors.Unwrap(err), "%T: the error is a fresh encoder's", v)
			}
		}
		// The cap, on the cached and the fresh path.
		c.MaxSize = 64
		for _, v := range []any{make([]byte, 100), []any{make([]byte, 100)}, codecTestSmall{Model: string(make([]byte, 60))}} {
			for range 2 {
				_, err := c.Encode(v)
				require.ErrorIs(t, err, ErrPayloadTooLarge, "%T", v)
			}
		}
		b, err := c.Encode(nil)
		require.NoError(t, err)
		require.Nil(t, b)
	}
}

func TestRegisterType(t *testing.T) {
	require.NoError(t, RegisterType(codecTestSmall{}), "the same type again")
	require.NoError(t, RegisterType(codecTestSmall{}))
	type codecTestSmall struct{ Other int } // same name, another type
	err := RegisterType(codecTestSmall{})
	require.ErrorContains(t, err, "taskstate: register type taskstate.codecTestSmall")
	require.Error(t, RegisterType(nil))
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"status": "waiting"}`, `{"_id": {"$in": ["0123456789abcdef01234567"]}}`,
		`{"filter.model.class": {"$nin": ["A", null]}}`, `{"filter.n": {"$gte": 1, "$lt": 3}}`,
		`{"filter.x": {"$exists": true}}`, `{"priority": {"$ne": 2}}`, `{"filter.a": {"$regex": "x"}}`, `[1]`, `{"_id": 3}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQueryJSON(s) // must never panic
		if err != nil {
			return
		}
		require.NoError(t, q.Validate(), "a parsed query is valid")
	})
}

var benchSink any

// benchFreshCached runs name/fresh, name/cached and name/cached-parallel:
// the path before a cache against the cached one, over a payload of size
// bytes.
func benchFreshCached(b *testing.B, name string, size int, fresh, cached func() (any, error)) {
	for _, r := range []struct {
		name string
		fn   func() (any, error)
	}{{"fresh", fresh}, {"cached", cached}} {
		b.Run(name+"/"+r.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				v, err := r.fn()
				if err != nil {
					b.Fatal(err)
				}
				benchSink = v
			}
		})
	}
	b.Run(name+"/cached-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := cached(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkDecode compares a fresh decoder per payload (the path before the
// cache) with the cached decoders, for a small typed def and a generic
// document def.
func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"struct", codecTestSmall{Model: "ridge-regression", Segment: "2020-01-01/2020-02-01", Seed: 42, Dry: true}},
		{"map", map[string]any{"model": map[string]any{"class": "Linear", "alpha": 0.5}, "seg": []any{"2020-01-01", "2020-02-01"}, "n": 3}},
	} {
		c := NewCodec(0)
		p, err := c.Encode(tc.v)
		require.NoError(b, err)
		benchFreshCached(b, tc.name, len(p),
			func() (any, error) { return gobcodec.DecodeFresh(p) },
			func() (any, error) { return c.Decode(p) })
	}
}

// BenchmarkEncode compares a fresh encoder per payload (the path before the
// cache) with the cached encoders.
func BenchmarkEncode(b *testing.B) {
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"struct", codecTestSmall{Model: "ridge-regression", Segment: "2020-01-01/2020-02-01", Seed: 42, Dry: true}},
		{"nested", codecTestNested{Inner: codecTestInner{Key: "in", Count: 2}, Items: []codecTestInner{{Key: "a"}, {Key: "b"}},
			When: time.Unix(1700000000, 5).UTC(), ByKey: map[string]int{"k": 1}}},
		{"map", map[string]any{"model": map[string]any{"class": "Linear", "alpha": 0.5}, "seg": []any{"2020-01-01", "2020-02-01"}, "n": 3}},
	} {
		c := NewCodec(0)
		p, err := gobcodec.EncodeFresh(tc.v)
		require.NoError(b, err)
		benchFreshCached(b, tc.name, len(p),
			func() (any, error) { return gobcodec.EncodeFresh(tc.v) },
			func() (any, error) { return c.Encode(tc.v) })
	}
}
