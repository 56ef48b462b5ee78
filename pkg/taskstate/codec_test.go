package taskstate_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func TestCodecRoundTripAndCap(t *testing.T) {
	c := taskstate.Codec{}
	def := map[string]any{"model": map[string]any{"class": "Linear"}, "seg": []any{"2020-01-01", nil}, "n": 3}
	b, err := c.Encode(def)
	require.NoError(t, err)
	v, err := c.Decode(b)
	require.NoError(t, err)
	require.Equal(t, def, v)

	small := taskstate.Codec{MaxSize: 64}
	_, err = small.Encode(make([]byte, 100))
	require.ErrorIs(t, err, taskstate.ErrPayloadTooLarge)
	_, err = small.Decode(make([]byte, 100))
	require.ErrorIs(t, err, taskstate.ErrPayloadTooLarge)

	_, err = c.Decode([]byte("not gob at all"))
	require.ErrorIs(t, err, taskstate.ErrDecode)
	_, err = c.Encode(func() {})
	require.Error(t, err)
}

func TestConvertDocumentToStruct(t *testing.T) {
	type Def struct {
		Duration string `json:"duration"`
		Fail     int    `json:"fail_attempts"`
	}
	got, err := taskstate.Convert[Def](map[string]any{"duration": "3ms", "fail_attempts": 2.0})
	require.NoError(t, err)
	require.Equal(t, Def{Duration: "3ms", Fail: 2}, got)
	_, err = taskstate.Convert[Def](map[string]any{"duration": 5})
	require.ErrorIs(t, err, taskstate.ErrDecode)
}

func TestKeyIsCanonical(t *testing.T) {
	a, err := taskstate.ToFilter(map[string]any{"b": 1, "a": []any{1, "x"}})
	require.NoError(t, err)
	b, err := taskstate.ToFilter(map[string]any{"a": []any{1.0, "x"}, "b": 1.0})
	require.NoError(t, err)
	require.Equal(t, taskstate.Key("k", a), taskstate.Key("k", b))
	require.NotEqual(t, taskstate.Key("k", a), taskstate.Key("other", a))
}

func FuzzCodecDecode(f *testing.F) {
	c := taskstate.Codec{MaxSize: 1 << 16}
	for _, v := range []any{1, "s", map[string]any{"a": []any{1.5, nil}}, []byte{1, 2}} {
		b, err := c.Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0x00, 0x13})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := c.Decode(data) // must never panic
		if err != nil {
			require.ErrorIs(t, err, taskstate.ErrDecode)
			return
		}
		if v == nil {
			return
		}
		// A value that decoded re-encodes and decodes to an equal value.
		b, err := c.Encode(v)
		if err != nil {
			return // e.g. over the cap after re-encoding
		}
		v2, err := c.Decode(b)
		require.NoError(t, err)
		require.Equal(t, v, v2)
	})
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
		q, err := taskstate.ParseQueryJSON(s) // must never panic
		if err != nil {
			return
		}
		require.NoError(t, q.Validate(), "a parsed query is valid")
	})
}
