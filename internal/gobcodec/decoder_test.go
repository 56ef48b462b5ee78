package gobcodec

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Types for the decoder cache tests.
type (
	codecTestDef struct {
		Name     string
		Attempts int
		Ratio    float64
		Tags     []string
		When     time.Time
		Params   map[string]any
		Extra    any
		Inner    codecTestInner
		Items    []codecTestInner
		ByName   map[string]codecTestInner
		Digest   [4]byte
		Raw      []byte
		Parent   *codecTestInner
	}
	codecTestInner struct {
		Key   string
		Count uint16
	}
	codecTestSmall struct { // about the size of a typical typed def
		Model   string
		Segment string
		Seed    int
		Dry     bool
	}
	codecTestList []codecTestInner
)

func init() {
	// What taskstate registers for every def, then the test types.
	for _, v := range []any{map[string]any{}, []any{}, time.Time{},
		codecTestDef{}, codecTestInner{}, codecTestSmall{}, codecTestList{}, map[int]string{}, [3]int{}} {
		gob.Register(v)
	}
}

// testDec and testEnc stand in for a taskstate.Codec's caches: shared by
// the tests, as a Manager's are by its goroutines.
var (
	testDec = NewDecoderCache(0)
	testEnc = NewEncoderCache(0)
)

// codecTestValues are the payloads of the cache tests: every shape a def or
// result commonly takes, including ones the cache hands to the fresh path.
func codecTestValues() []any {
	when := time.Date(2024, 2, 29, 12, 30, 0, 5, time.UTC)
	return []any{
		1, -7, "s", 2.5, true, []byte{0, 1, 2},
		map[string]any{"a": 1},
		map[string]any{"model": map[string]any{"class": "Linear"}, "seg": []any{"2020-01-01", nil}, "n": 3},
		map[string]any{"t": when, "deep": []any{[]any{map[string]any{"x": []any{1.5, "y", nil}}}}},
		[]any{1, "x", nil, map[string]any{"k": []any{"z"}}},
		[]any{nil},
		when,
		time.Date(2001, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600)),
		map[int]string{1: "a", 2: "b"},
		[3]int{1, 2, 3},
		codecTestSmall{Model: "ridge", Segment: "2020-01", Seed: 42, Dry: true},
		codecTestSmall{},
		codecTestInner{Key: "k", Count: 3},
		codecTestList{{Key: "a"}, {Key: "b", Count: 1}},
		codecTestDef{Name: "full", Attempts: 3, Ratio: 0.25, Tags: []string{"a", "b"}, When: when,
			Params: map[string]any{"lr": 0.1, "layers": []any{64, 32}, "opt": map[string]any{"name": "adam"}},
			Extra:  []any{"x", 1}, Inner: codecTestInner{Key: "in", Count: 1},
			Items: []codecTestInner{{Key: "i"}}, ByName: map[string]codecTestInner{"n": {Count: 9}},
			Digest: [4]byte{1, 2, 3, 4}, Raw: []byte("raw"), Parent: &codecTestInner{Key: "p"}},
		codecTestDef{Name: "sparse"},
		// An `any` field holding a value that defines a type inside it, and a
		// nil inside a struct's map: the cache leaves these to a fresh decoder.
		codecTestDef{Extra: map[string]any{"list": []any{1, 2}}},
		codecTestDef{Params: map[string]any{"none": nil}},
		codecTestDef{Extra: codecTestDef{Name: "nested", Extra: when}},
	}
}

func encodeAll(t testing.TB, vals []any) [][]byte {
	t.Helper()
	out := make([][]byte, len(vals))
	for i, v := range vals {
		b, err := testEnc.Encode(v)
		require.NoError(t, err)
		out[i] = b
	}
	return out
}

// sameValue is require.Equal's notion of equal, except that NaN equals NaN.
func sameValue(a, b any) bool {
	return reflect.DeepEqual(a, b) || fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// TestGobPayloadLayout pins down the stream layout the cache was built on:
// for an interface value, the concrete type's definitions are not separate
// leading messages (the first message is the interface value itself, with
// the first definition inline after the type name), and definitions of types
// first met inside the value come in the middle of the value.
func TestGobPayloadLayout(t *testing.T) {
	b, err := testEnc.Encode(codecTestSmall{Model: "m"})
	require.NoError(t, err)
	n, w, ok := gobUintAt(b)
	require.True(t, ok)
	first := b[w : w+int(n)]
	id, _, ok := gobUintAt(first)
	require.True(t, ok)
	require.EqualValues(t, 2*gobInterface, id, "first message: the interface value, not a type definition")
	require.Contains(t, string(first), "codecTestSmall")

	var s gobScan
	s.types, s.complete = map[int64]wireDef{}, map[int64]struct{}{}
	require.True(t, s.scan(b))
	require.NotEmpty(t, s.key)
	require.Less(t, len(s.stream), len(b))

	// A []any inside a map[string]any: its definition sits inside the value,
	// after the last top-level message started.
	flat, err := testEnc.Encode(map[string]any{"a": 1})
	require.NoError(t, err)
	require.True(t, s.scan(flat))
	flatKey := string(s.key)
	nested, err := testEnc.Encode(map[string]any{"a": []any{1}})
	require.NoError(t, err)
	require.True(t, s.scan(nested))
	require.True(t, strings.HasPrefix(string(s.key), flatKey))
	inner := s.key[len(flatKey):]
	require.NotEmpty(t, inner, "one more type definition: []interface {}")
	require.Contains(t, string(lastGobMessage(t, nested)), string(inner), "type definition inside the value message")
	require.NotContains(t, string(s.stream), string(inner))
}

func lastGobMessage(t *testing.T, b []byte) []byte {
	var last []byte
	for len(b) > 0 {
		n, w, ok := gobUintAt(b)
		require.True(t, ok)
		last = b[w : w+int(n)]
		b = b[w+int(n):]
	}
	return last
}

func TestDecodeCacheMatchesFreshDecoder(t *testing.T) {
	vals := codecTestValues()
	payloads := encodeAll(t, vals)
	c := NewDecoderCache(0)
	cached := 0
	var afterFirstRound int64
	for round := range 4 {
		if round == 1 {
			afterFirstRound = c.created.Load()
		}
		for i, b := range payloads {
			if round%2 == 1 { // interleave in another order
				i = len(payloads) - 1 - i
				b = payloads[i]
			}
			fresh, err := DecodeFresh(b)
			require.NoError(t, err)
			require.Equal(t, vals[i], fresh, "fresh decode of %T", vals[i])

			got, ok, _ := c.decode(b, DefaultMaxDepth)
			if round == 0 && ok {
				cached++
			}
			if ok {
				require.Equal(t, fresh, got, "cached decode of %T", vals[i])
				require.Equal(t, reflect.TypeOf(fresh), reflect.TypeOf(got))
			}
			got, err = testDec.Decode(b)
			require.NoError(t, err)
			require.Equal(t, fresh, got, "Decode of %T", vals[i])
		}
	}
	require.Equal(t, len(payloads)-2, cached, "all but the two refused shapes go through the cache")
	// The first round built the decoders, the other three reuse them: values
	// are decoded one at a time, so one decoder per key is enough. Some are
	// rebuilt when a GC empties a pool, and under -race sync.Pool drops a
	// quarter of what it is given on purpose (TestDecodeCacheReusesDecoders
	// has the tighter check).
	require.LessOrEqual(t, afterFirstRound, int64(cached))
	require.Less(t, c.created.Load()-afterFirstRound, int64(3*cached), "3 rounds of %d cached decodes", cached)
	require.Less(t, c.len(), cached, "payloads with the same type definitions share a key")

	// The refused shapes really take the fresh path, and the rest does not.
	for i, b := range payloads {
		var s gobScan
		s.types, s.complete = map[int64]wireDef{}, map[int64]struct{}{}
		refused := i == len(payloads)-3 || i == len(payloads)-2
		require.Equal(t, !refused, s.scan(b), "scan of %#v", vals[i])
	}
}

func TestDecodeCacheReusesDecoders(t *testing.T) {
	c := NewDecoderCache(0)
	a, err := testEnc.Encode(codecTestSmall{Model: "a", Seed: 1})
	require.NoError(t, err)
	b, err := testEnc.Encode(codecTestSmall{Model: "bb", Segment: "s", Dry: true})
	require.NoError(t, err)
	for range 100 {
		for _, p := range [][]byte{a, b} {
			want, err := DecodeFresh(p)
			require.NoError(t, err)
			got, ok, _ := c.decode(p, DefaultMaxDepth)
			require.True(t, ok)
			require.Equal(t, want, got)
		}
	}
	require.Equal(t, 1, c.len(), "same type definitions, one key")
	// Without reuse every one of the 200 decodes would build a decoder. The GC
	// empties pools now and then, and under -race sync.Pool drops a quarter of
	// what it is given on purpose.
	require.Less(t, c.created.Load(), int64(100), "decoders are reused")
}

func TestDecodeCacheConcurrent(t *testing.T) {
	vals := codecTestValues()
	payloads := encodeAll(t, vals)
	want := make([]any, len(payloads))
	for i, b := range payloads {
		v, err := DecodeFresh(b)
		require.NoError(t, err)
		want[i] = v
	}
	concurrently(t, 200, len(payloads), func(i int) error {
		got, err := testDec.Decode(payloads[i])
		if err == nil && !reflect.DeepEqual(want[i], got) {
			err = fmt.Errorf("payload %d: got %#v, want %#v", i, got, want[i])
		}
		return err
	})
}

// concurrently runs check from 16 goroutines, rounds times each, on
// interleaved indexes below n, and reports each goroutine's first error.
func concurrently(t *testing.T, rounds, n int, check func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for r := range rounds {
				if err := check((g*7 + r) % n); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// renameLast changes the last byte of the last occurrence of name in b, in a
// copy: there, the name of an interface value's concrete type.
func renameLast(b []byte, name string) []byte {
	b = bytes.Clone(b)
	b[bytes.LastIndex(b, []byte(name))+len(name)-1] ^= 0x20
	return b
}

func TestDecodeCacheCorruptValue(t *testing.T) {
	c := NewDecoderCache(0)
	good := codecTestDef{Name: "good", Extra: codecTestInner{Key: "k"}, When: time.Unix(5, 0).UTC()}
	p, err := testEnc.Encode(good)
	require.NoError(t, err)
	v, err := c.Decode(p)
	require.NoError(t, err)
	require.Equal(t, good, v)

	var s gobScan
	s.types, s.complete = map[int64]wireDef{}, map[int64]struct{}{}
	require.True(t, s.scan(p))
	key := string(s.key)

	bad := [][]byte{
		// Well-formed streams with the same type definitions that gob refuses:
		// an unregistered type name in the value, a time.Time that does not
		// unmarshal. Both reach the cached decoder, which fails and is dropped.
		renameLast(p, "gobcodec.codecTestInner"),
		p[:len(p)-1],                       // truncated
		append(bytes.Clone(p), 0x01, 0x02), // trailing bytes
	}
	tm := bytes.Index(p, []byte("\x0f\x01\x00\x00\x00\x0e")) // time.Time's GobEncode: 15 bytes, version 1
	require.Positive(t, tm)
	badTime := bytes.Clone(p)
	badTime[tm+1] = 0x7f // unknown version
	bad = append(bad, badTime)
	// A value part with garbage instead of the last struct field and terminator.
	garbled := bytes.Clone(p)
	garbled[len(garbled)-1] = 0x7e
	bad = append(bad, garbled)

	for i, b := range bad {
		if i == 0 || i == 3 {
			var s gobScan
			s.types, s.complete = map[int64]wireDef{}, map[int64]struct{}{}
			require.True(t, s.scan(b), "bad payload %d passes the scan, the cached decoder sees it", i)
			require.Equal(t, key, string(s.key), "same type definitions as the good payload")
		}
		_, freshErr := DecodeFresh(b)
		_, err := c.Decode(b)
		if i == 2 { // trailing bytes: gob ignores them, so does Decode
			require.NoError(t, err)
			require.NoError(t, freshErr)
			continue
		}
		require.Error(t, err, "bad payload %d", i)
		require.Error(t, freshErr)
		if i == 1 || i == 4 { // truncated, garbled: Check refuses them before gob
			require.True(t, errors.Is(err, ErrTooLarge) || errors.Is(err, ErrMalformed), "%v", err)
		} else {
			require.Equal(t, freshErr.Error(), err.Error(), "the error is a fresh decoder's")
		}

		v, err := c.Decode(p)
		require.NoError(t, err)
		require.Equal(t, good, v, "a good payload with the same definitions after bad payload %d", i)
	}
}

func TestDecodeCacheDistinctDefinitions(t *testing.T) {
	c := NewDecoderCache(0)
	for _, v := range []any{codecTestSmall{Seed: 1}, codecTestInner{Key: "x"}, map[string]any{"a": 1},
		map[string]any{"a": []any{1}}, 7, "s"} {
		b, err := testEnc.Encode(v)
		require.NoError(t, err)
		before := c.len()
		got, ok, _ := c.decode(b, DefaultMaxDepth)
		require.True(t, ok)
		require.Equal(t, v, got)
		_, ok, _ = c.decode(b, DefaultMaxDepth)
		require.True(t, ok)
		switch v.(type) {
		case int, string:
		default:
			require.Equal(t, before+1, c.len(), "%T: new type definitions, new key", v)
		}
	}
	require.Equal(t, 5, c.len(), "7 and \"s\" define no types: they share the empty key")

	// Bounded: a full cache makes room.
	small := NewDecoderCache(2)
	for _, v := range []any{codecTestSmall{}, codecTestInner{}, map[string]any{"a": 1}, codecTestList{{}}} {
		b, err := testEnc.Encode(v)
		require.NoError(t, err)
		got, ok, _ := small.decode(b, DefaultMaxDepth)
		require.True(t, ok)
		require.Equal(t, v, got)
		require.LessOrEqual(t, small.len(), 2)
	}
}

// Two versions of a def type, for payloads written by a newer version with
// fields this one does not know; gob skips those fields.
type (
	codecTestEvolve1 struct {
		A int
		B string
	}
	codecTestEvolve2 struct {
		A      int
		Extra  any
		B      string
		More   []any
		Params map[string]any
		When   time.Time
		Inner  codecTestInner
	}
)

// evolvedPayloads encodes values of the newer version and renames them to
// the older one, as if the newer binary had written them.
func evolvedPayloads(t testing.TB) [][]byte {
	gob.Register(codecTestEvolve1{})
	gob.Register(codecTestEvolve2{})
	var out [][]byte
	for _, v := range []codecTestEvolve2{
		{A: 1, B: "b"},
		{A: 2, Extra: []any{1, "x"}, B: "b", More: []any{1.5, nil}},
		{Extra: codecTestInner{Key: "k"}, More: []any{codecTestSmall{Seed: 1}}, B: "after"},
		{Extra: time.Unix(7, 0).UTC(), Params: map[string]any{"a": []any{1}}, B: "t"},
		{Extra: map[string]any{"x": []any{1}}, B: "nested definition in an ignored value"},
		{Params: map[string]any{"n": nil}, B: "nil in an ignored map"},
		{Extra: []any{[]any{map[string]any{"deep": 1}}}, A: -1, B: "z", When: time.Unix(9, 0).UTC()},
	} {
		b, err := testEnc.Encode(v)
		require.NoError(t, err)
		const from, to = "gobcodec.codecTestEvolve2", "gobcodec.codecTestEvolve1"
		i := bytes.LastIndex(b, []byte(from))
		require.Positive(t, i)
		copy(b[i:], to)
		out = append(out, b)
	}
	return out
}

func TestDecodeCacheIgnoredFields(t *testing.T) {
	payloads := evolvedPayloads(t)
	scanned := 0
	for round := range 3 {
		for i, p := range payloads {
			want, wantErr := DecodeFresh(p)
			got, err := testDec.Decode(p)
			if wantErr != nil {
				require.Error(t, err)
				require.Equal(t, wantErr.Error(), err.Error())
				continue
			}
			require.NoError(t, err, "payload %d", i)
			require.IsType(t, codecTestEvolve1{}, got)
			require.Equal(t, want, got, "payload %d, round %d", i, round)
			if round == 0 {
				var s gobScan
				s.types, s.complete = map[int64]wireDef{}, map[int64]struct{}{}
				if s.scan(p) {
					scanned++
				}
			}
		}
	}
	require.GreaterOrEqual(t, scanned, 4, "payloads with skipped fields go through the cache")
}

// TestDecodeCacheForeignTypeIDs decodes payloads written by another process
// (this test binary, run again) that numbered its gob types differently:
// the same type has another id there, and an id of ours names another type.
func TestDecodeCacheForeignTypeIDs(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^TestDecodeCacheHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GOBCODEC_HELPER=1")
	out, err := cmd.Output()
	require.NoError(t, err, "helper: %s", out)
	var foreign [][]byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if h, ok := strings.CutPrefix(sc.Text(), "PAYLOAD "); ok {
			b, err := hex.DecodeString(h)
			require.NoError(t, err)
			foreign = append(foreign, b)
		}
	}
	vals := helperValues()
	require.Len(t, foreign, len(vals))
	local := encodeAll(t, vals)

	c := NewDecoderCache(0)
	for round := range 3 {
		for i, v := range vals {
			require.NotEqual(t, local[i], foreign[i], "%T: other type ids", v)
			for _, p := range [][]byte{local[i], foreign[i]} {
				fresh, err := DecodeFresh(p)
				require.NoError(t, err)
				require.Equal(t, v, fresh)
				got, ok, _ := c.decode(p, DefaultMaxDepth)
				require.True(t, ok, "round %d, %T", round, v)
				require.Equal(t, v, got, "round %d", round)
			}
		}
	}
	require.Equal(t, 2*len(vals), c.len(), "local and foreign payloads never share a key")
}

func helperValues() []any {
	return []any{
		codecTestSmall{Model: "m", Seed: 3},
		codecTestInner{Key: "k", Count: 2},
		codecTestDef{Name: "d", Inner: codecTestInner{Key: "i"}, Extra: codecTestSmall{Dry: true}},
	}
}

// TestDecodeCacheHelperProcess is not a test: TestDecodeCacheForeignTypeIDs
// runs it in a child process to get payloads with other type ids.
func TestDecodeCacheHelperProcess(t *testing.T) {
	if os.Getenv("GOBCODEC_HELPER") != "1" {
		t.Skip("helper process for TestDecodeCacheForeignTypeIDs")
	}
	// Give the types ids in another order than the parent process did:
	// decoys first, then the test types in reverse.
	type decoy1 struct{ A, B int }
	type decoy2 struct{ C []string }
	gob.Register(decoy1{})
	gob.Register(decoy2{})
	for _, v := range []any{decoy1{A: 1}, decoy2{C: []string{"x"}}, codecTestInner{}, codecTestSmall{}} {
		_, err := testEnc.Encode(v)
		require.NoError(t, err)
	}
	for _, v := range helperValues() {
		b, err := testEnc.Encode(v)
		require.NoError(t, err)
		fmt.Printf("PAYLOAD %x\n", b)
	}
}

// FuzzDecode checks that a payload decodes through the cache as it does
// fresh, value and error, and never panics.
func FuzzDecode(f *testing.F) {
	const maxSize = 16 << 20 // taskstate.Codec's cap is 15 MiB
	c := NewDecoderCache(0)
	seeds := []any{1, "s", map[string]any{"a": []any{1.5, nil}}, []byte{1, 2}}
	seeds = append(seeds, codecTestValues()...)
	for _, v := range seeds {
		b, err := testEnc.Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0x00, 0x13})
	for _, b := range bombs(f) {
		f.Add(b.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || len(data) > maxSize {
			return // taskstate.Codec never hands these to the cache
		}
		if cerr := Check(data, 0); cerr != nil {
			_, err := c.Decode(data)
			require.Equal(t, cerr, err, "a payload Check refuses is refused")
			require.True(t, errors.Is(cerr, ErrTooLarge) || errors.Is(cerr, ErrTooDeep) || errors.Is(cerr, ErrMalformed), "%v", cerr)
			return // not given to gob: it might not survive it
		}
		want, wantErr := DecodeFresh(data)
		// Twice: the first decode may build and cache a decoder, the second
		// goes through it.
		for range 2 {
			v, err := c.Decode(data) // must never panic
			if wantErr != nil {
				require.Error(t, err)
				require.Equal(t, wantErr.Error(), err.Error())
				continue
			}
			require.NoError(t, err)
			require.True(t, sameValue(want, v), "cached %#v, fresh %#v", v, want)
		}
		if wantErr != nil || want == nil {
			return
		}
		// A value that decoded re-encodes and decodes to an equal value.
		b, err := testEnc.Encode(want)
		if err != nil || len(b) > maxSize {
			return
		}
		v2, err := c.Decode(b)
		require.NoError(t, err)
		require.True(t, sameValue(want, v2), "re-encoded %#v, fresh %#v", v2, want)
	})
}
