package gobcodec

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Types for the encoder cache tests.
type (
	codecTestNested struct {
		Inner  codecTestInner
		Items  []codecTestInner
		Ptr    *codecTestInner
		When   time.Time
		ByKey  map[string]int
		Grid   [2][2]int8
		Tree   *codecTestNode
		Raw    []byte
		hidden int // unexported: not sent
		C      complex128
		U      uint64
	}
	codecTestNode struct { // recursive
		Name string
		Kids []codecTestNode
		Next *codecTestNode
	}
	codecTestWithAny struct {
		Name string
		Any  any
	}
	codecTestProp struct {
		A  int64
		B  string
		C  []float64
		D  map[string]int8
		E  *codecTestInner
		F  []codecTestInner
		G  time.Time
		H  bool
		I  [3]uint16
		J  [][]string
		K  *string
		L  float32
		M  codecTestSmall
		N  []byte
		O  map[int32]codecTestInner
		Pp **int
	}
)

func init() {
	gob.Register(codecTestNested{})
	gob.Register(codecTestNode{})
	gob.Register(codecTestWithAny{})
	gob.Register(codecTestProp{})
	gob.Register([]codecTestInner{})
	gob.Register(map[string]codecTestInner{})
	gob.Register([]string{})
	gob.Register(map[string]int{})
}

type encTestCase struct {
	v         any
	cacheable bool // gobEncodable(TypeOf(v))
	ordered   bool // at most one entry in each map: the encoding is deterministic
}

func encTestCases() []encTestCase {
	when := time.Date(2024, 2, 29, 12, 30, 0, 5, time.UTC)
	zoned := time.Date(2001, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))
	tree := &codecTestNode{Name: "root", Kids: []codecTestNode{{Name: "a"}, {Name: "b", Kids: []codecTestNode{{Name: "c"}}}},
		Next: &codecTestNode{Name: "n"}}
	cases := []encTestCase{
		{v: 1, cacheable: true}, {v: -7, cacheable: true}, {v: 0, cacheable: true}, {v: "s", cacheable: true},
		{v: "", cacheable: true}, {v: 2.5, cacheable: true}, {v: true, cacheable: true}, {v: []byte{0, 1, 2}, cacheable: true},
		{v: when, cacheable: true}, {v: zoned, cacheable: true}, {v: time.Time{}, cacheable: true},
		{v: map[int]string{1: "a"}, cacheable: true}, {v: map[int]string{}, cacheable: true},
		{v: map[int]string{1: "a", 2: "b", 3: "c"}, cacheable: true, ordered: false},
		{v: map[string]int{"x": 1}, cacheable: true},
		{v: [3]int{1, 2, 3}, cacheable: true},
		{v: []string{"a", "b"}, cacheable: true}, {v: []string{}, cacheable: true},
		{v: codecTestSmall{Model: "ridge", Segment: "2020-01", Seed: 42, Dry: true}, cacheable: true},
		{v: codecTestSmall{}, cacheable: true},
		{v: codecTestSmall{Model: "other", Seed: -1 << 40}, cacheable: true},
		{v: codecTestInner{Key: "k", Count: 3}, cacheable: true},
		{v: &codecTestInner{Key: "ptr", Count: 4}, cacheable: true},
		{v: codecTestList{{Key: "a"}, {Key: "b", Count: 1}}, cacheable: true},
		{v: []codecTestInner{{Key: "x"}}, cacheable: true},
		{v: map[string]codecTestInner{"m": {Key: "v", Count: 2}}, cacheable: true},
		{v: codecTestNested{}, cacheable: true},
		{v: codecTestNested{Inner: codecTestInner{Key: "in"}, Items: []codecTestInner{{Key: "1"}, {Count: 2}},
			Ptr: &codecTestInner{Key: "p"}, When: when, ByKey: map[string]int{"one": 1}, Grid: [2][2]int8{{1, -2}, {3, 4}},
			Tree: tree, Raw: []byte("raw"), hidden: 5, C: complex(1, -2), U: math.MaxUint64}, cacheable: true},
		{v: codecTestNested{ByKey: map[string]int{"a": 1, "b": 2, "c": 3}, When: zoned}, cacheable: true},
		{v: *tree, cacheable: true},
		{v: codecTestNode{Name: "leaf"}, cacheable: true},
		// Fallback shapes: interfaces inside.
		{v: map[string]any{"a": 1}},
		{v: map[string]any{"model": map[string]any{"class": "Linear"}, "seg": []any{"2020-01-01", nil}}},
		{v: []any{1, "x", nil, map[string]any{"k": []any{"z"}}}},
		{v: []any{nil}},
		{v: codecTestWithAny{Name: "n", Any: codecTestInner{Key: "k"}}},
		{v: codecTestWithAny{Name: "nil"}},
		{v: codecTestWithAny{Any: when}},
		{v: codecTestDef{Name: "sparse"}},
		{v: codecTestDef{Name: "full", Extra: []any{"x", 1}, Inner: codecTestInner{Key: "in"}, When: when,
			Params: map[string]any{"lr": 0.1}, Parent: &codecTestInner{Key: "p"}}},
	}
	for i := range cases {
		if cases[i].v != nil {
			cases[i].ordered = maxMapLen(reflect.ValueOf(cases[i].v)) <= 1
		}
	}
	return cases
}

// maxMapLen is the largest map length found in v.
func maxMapLen(v reflect.Value) int {
	m := 0
	switch v.Kind() {
	case reflect.Map:
		m = v.Len()
		for it := v.MapRange(); it.Next(); {
			m = max(m, maxMapLen(it.Key()), maxMapLen(it.Value()))
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			m = maxMapLen(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			m = max(m, maxMapLen(v.Index(i)))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			m = max(m, maxMapLen(v.Field(i)))
		}
	}
	return m
}

// checkEncoded checks a payload against a fresh encoder's for v: the same
// bytes when v's encoding is deterministic, and decoding to the same value
// with both decoders in any case.
func checkEncoded(t testing.TB, v any, ordered bool, got []byte) {
	t.Helper()
	want, err := EncodeFresh(v)
	require.NoError(t, err)
	if ordered {
		require.Equal(t, want, got, "%T %#v", v, v)
	} else {
		require.Len(t, got, len(want), "%T", v)
	}
	wantV, err := DecodeFresh(want)
	require.NoError(t, err)
	gotV, err := DecodeFresh(got)
	require.NoError(t, err)
	require.Equal(t, wantV, gotV, "%T", v)
	gotC, err := testDec.Decode(got)
	require.NoError(t, err)
	require.Equal(t, wantV, gotC, "%T", v)
}

func TestGobEncodable(t *testing.T) {
	for _, tc := range encTestCases() {
		require.Equal(t, tc.cacheable, gobEncodable(reflect.TypeOf(tc.v)), "%T", tc.v)
	}
	for _, v := range []any{func() {}, make(chan int), struct{ f func() }{}, struct{ x any }{}, []error{},
		map[any]int{}, struct{ P *struct{ E []fmt.Stringer } }{}, [1]any{}} {
		require.False(t, gobEncodable(reflect.TypeOf(v)), "%T", v)
	}
	require.False(t, gobEncodable(nil))
}

// TestEncodeCacheLayout checks what the cache is built on: a fresh encoder
// writes P + message(V), an encoder that already encoded a value of the same
// type writes one message H+V, and H starts P.
func TestEncodeCacheLayout(t *testing.T) {
	for _, tc := range encTestCases() {
		if !tc.cacheable || !tc.ordered {
			continue
		}
		var buf bytes.Buffer
		enc := gob.NewEncoder(&buf)
		v := tc.v
		require.NoError(t, enc.Encode(&v))
		first := bytes.Clone(buf.Bytes())
		fresh, err := EncodeFresh(tc.v)
		require.NoError(t, err)
		require.Equal(t, fresh, first, "a new encoder is a fresh encoder")
		l, ok := gobLayout(first)
		require.True(t, ok)

		buf.Reset()
		require.NoError(t, enc.Encode(&v))
		second := buf.Bytes()
		n, w, ok := gobUintAt(second)
		require.True(t, ok)
		require.EqualValues(t, len(second)-w, n, "%T: one message", tc.v)
		require.True(t, bytes.HasPrefix(second[w:], l.header), "%T: starts with H", tc.v)
		if len(l.prefix) == 0 {
			require.Equal(t, first, second, "%T: no type definitions", tc.v)
			continue
		}
		pn, pw, ok := gobUintAt(l.prefix)
		require.True(t, ok)
		require.True(t, bytes.HasPrefix(l.prefix[pw:pw+int(pn)], l.header), "%T: P's first message starts with H", tc.v)
		val := second[w+len(l.header):]
		require.Equal(t, lastGobMessage(t, first), val, "%T: the last message of a fresh payload is V", tc.v)
		var hdr [gobFrame]byte
		hn := putGobUint(hdr[:], uint64(len(val)))
		require.Equal(t, first, append(append(bytes.Clone(l.prefix), hdr[gobFrame-hn:]...), val...), "%T: P + message(V)", tc.v)
	}
}

func TestEncodeCacheMatchesFreshEncoder(t *testing.T) {
	cases := encTestCases()
	c := NewEncoderCache(0)
	for round := range 6 {
		for i := range cases {
			if round%2 == 1 { // interleave in another order
				i = len(cases) - 1 - i
			}
			tc := cases[i]
			got, ok := c.encode(tc.v)
			require.Equal(t, tc.cacheable, ok, "%T", tc.v)
			if ok {
				checkEncoded(t, tc.v, tc.ordered, got)
			}
			got, err := testEnc.Encode(tc.v)
			require.NoError(t, err)
			checkEncoded(t, tc.v, tc.ordered, got)
		}
	}
	types := map[reflect.Type]bool{}
	for _, tc := range cases {
		types[reflect.TypeOf(tc.v)] = true
	}
	require.Equal(t, len(types), c.len(), "one entry per type, cacheable or not")
	// Encoders are reused: every round but the first could do without new
	// ones (the GC empties pools now and then, and under -race sync.Pool
	// drops a quarter of what it is given on purpose).
	n := 0
	for _, tc := range cases {
		if tc.cacheable {
			n++
		}
	}
	require.Less(t, c.created.Load(), int64(4*n), "6 rounds of %d cacheable values", n)
}

func TestEncodeCacheReusesEncoders(t *testing.T) {
	c := NewEncoderCache(0)
	for i := range 200 {
		v := codecTestSmall{Model: fmt.Sprint("m", i), Seed: i, Dry: i%2 == 0}
		got, ok := c.encode(v)
		require.True(t, ok)
		checkEncoded(t, v, true, got)
	}
	require.Equal(t, 1, c.len())
	require.Less(t, c.created.Load(), int64(100), "encoders are reused")
}

func TestEncodeCacheBounded(t *testing.T) {
	c := NewEncoderCache(2)
	for range 3 {
		for _, v := range []any{codecTestSmall{Seed: 1}, codecTestInner{Key: "x"}, codecTestList{{}}, 5, map[string]any{"a": 1}} {
			got, ok := c.encode(v)
			require.Equal(t, gobEncodable(reflect.TypeOf(v)), ok)
			if ok {
				checkEncoded(t, v, true, got)
			}
			require.LessOrEqual(t, c.len(), 2)
		}
	}
}

type codecTestUnregistered struct{ A int }

type codecTestBadMarshal struct{ A int }

func (codecTestBadMarshal) MarshalBinary() ([]byte, error) { return nil, errors.New("bad marshal") }

func TestEncodeErrorsAreFreshEncoders(t *testing.T) {
	gob.Register(codecTestBadMarshal{})
	var nilPtr *codecTestInner
	for _, v := range []any{codecTestUnregistered{A: 1}, func() {}, make(chan int), nilPtr, codecTestBadMarshal{A: 1},
		codecTestWithAny{Any: codecTestUnregistered{}}} {
		_, want := EncodeFresh(v)
		require.Error(t, want, "%T", v)
		for range 3 {
			_, err := testEnc.Encode(v)
			require.Error(t, err)
			require.Equal(t, want.Error(), err.Error())
			require.Equal(t, errors.Unwrap(want), errors.Unwrap(err))
		}
	}
	// The errors do not spoil the cache for good values of the same types.
	got, err := testEnc.Encode(&codecTestInner{Key: "ok"})
	require.NoError(t, err)
	checkEncoded(t, &codecTestInner{Key: "ok"}, true, got)
}

func TestEncodeCacheConcurrent(t *testing.T) {
	cases := encTestCases()
	want := make([][]byte, len(cases))
	for i, tc := range cases {
		b, err := EncodeFresh(tc.v)
		require.NoError(t, err)
		want[i] = b
	}
	concurrently(t, 300, len(cases), func(i int) error {
		tc := cases[i]
		got, err := testEnc.Encode(tc.v)
		if err == nil && tc.ordered && !bytes.Equal(want[i], got) {
			err = fmt.Errorf("value %d (%T): got %x, want %x", i, tc.v, got, want[i])
		}
		if err == nil && !tc.ordered && len(want[i]) != len(got) {
			err = fmt.Errorf("value %d (%T): got %d bytes, want %d", i, tc.v, len(got), len(want[i]))
		}
		return err
	})
}

func randString(r *rand.Rand) string {
	b := make([]byte, r.Intn(40))
	for i := range b {
		b[i] = byte(r.Intn(256))
	}
	return string(b)
}

func randInner(r *rand.Rand) codecTestInner {
	return codecTestInner{Key: randString(r), Count: uint16(r.Intn(1 << 16))}
}

func randProp(r *rand.Rand) codecTestProp {
	var p codecTestProp
	p.A = r.Int63() - r.Int63()
	if r.Intn(4) == 0 {
		p.A = 0
	}
	p.B = randString(r)
	if r.Intn(2) == 0 {
		p.C = make([]float64, r.Intn(5))
		for i := range p.C {
			p.C[i] = r.NormFloat64() * math.Pow(10, float64(r.Intn(40)-20))
		}
	}
	if r.Intn(2) == 0 { // at most one entry: map order is random
		p.D = map[string]int8{}
		if r.Intn(2) == 0 {
			p.D[randString(r)] = int8(r.Intn(256) - 128)
		}
	}
	if r.Intn(2) == 0 {
		in := randInner(r)
		p.E = &in
	}
	for range r.Intn(4) {
		p.F = append(p.F, randInner(r))
	}
	if r.Intn(3) > 0 {
		p.G = time.Unix(r.Int63n(1<<34)-1<<33, r.Int63n(1e9)).In(time.FixedZone("", 60*(r.Intn(1440)-720)))
		if r.Intn(2) == 0 {
			p.G = p.G.UTC()
		}
	}
	p.H = r.Intn(2) == 0
	for i := range p.I {
		p.I[i] = uint16(r.Intn(3))
	}
	for range r.Intn(3) {
		p.J = append(p.J, []string{randString(r)})
	}
	if r.Intn(2) == 0 {
		s := randString(r)
		p.K = &s
	}
	p.L = float32(r.NormFloat64())
	p.M = codecTestSmall{Model: randString(r), Segment: randString(r), Seed: r.Int() - r.Int(), Dry: r.Intn(2) == 0}
	if r.Intn(2) == 0 {
		p.N = []byte(randString(r))
	}
	if r.Intn(2) == 0 {
		p.O = map[int32]codecTestInner{r.Int31(): randInner(r)}
	}
	if r.Intn(2) == 0 {
		x := r.Intn(100) - 50
		px := &x
		p.Pp = &px
	}
	return p
}

// TestEncodeCacheRandomValues compares the cache with a fresh encoder for
// random values of a struct with many field kinds.
func TestEncodeCacheRandomValues(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	c := NewEncoderCache(0)
	n := 500
	if testing.Short() {
		n = 200
	}
	for range n {
		p := randProp(r)
		for _, v := range []any{p, &p, p.M, p.F} {
			got, ok := c.encode(v)
			require.True(t, ok, "%T", v)
			want, err := EncodeFresh(v)
			require.NoError(t, err)
			require.Equal(t, want, got, "%#v", v)
		}
		got, err := testDec.Decode(mustEncode(t, p))
		require.NoError(t, err)
		want, err := DecodeFresh(mustEncodeFresh(t, p))
		require.NoError(t, err)
		require.Equal(t, want, got)
		require.Equal(t, p.A, got.(codecTestProp).A)
	}
}

func mustEncodeFresh(t testing.TB, v any) []byte {
	t.Helper()
	b, err := EncodeFresh(v)
	require.NoError(t, err)
	return b
}

func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := testEnc.Encode(v)
	require.NoError(t, err)
	return b
}

func FuzzEncode(f *testing.F) {
	f.Add(int64(1), "ridge", 3, true, []byte{1})
	f.Add(int64(-1), "", 0, false, []byte(nil))
	f.Fuzz(func(t *testing.T, a int64, s string, n int, b bool, raw []byte) {
		for _, v := range []any{
			codecTestSmall{Model: s, Segment: string(raw), Seed: n, Dry: b},
			codecTestNested{Inner: codecTestInner{Key: s, Count: uint16(n)}, Raw: raw, U: uint64(a),
				ByKey: map[string]int{s: n}, When: time.Unix(a%(1<<40), int64(n)%1e9).UTC()},
			[]string{s, string(raw)},
			a, s, raw,
		} {
			for range 2 {
				got, err := testEnc.Encode(v)
				require.NoError(t, err)
				want, err := EncodeFresh(v)
				require.NoError(t, err)
				require.Equal(t, want, got)
			}
		}
	})
}
