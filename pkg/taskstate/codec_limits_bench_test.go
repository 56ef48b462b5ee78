package taskstate_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// BenchmarkCodecLarge encodes and decodes payloads past the decoder
// cache's 64 KiB (so every decode is a fresh gob decoder, after the
// payload check): a generic document of 10,000 entries and a result of
// 100,000 floats. It prices the nesting walk on encode and the payload
// check on decode.
func BenchmarkCodecLarge(b *testing.B) {
	doc := make(map[string]any, 10_000)
	for i := range 10_000 {
		doc[fmt.Sprintf("feature_%05d", i)] = map[string]any{"mean": float64(i) / 7, "tags": []any{"a", i}}
	}
	floats := make([]float64, 100_000)
	for i := range floats {
		floats[i] = float64(i) * 1.5
	}
	for _, tc := range []struct {
		name string
		v    any
	}{{"doc", doc}, {"floats", map[string]any{"pred": floats}}} {
		c := taskstate.NewCodec(0)
		p, err := c.Encode(tc.v)
		require.NoError(b, err)
		b.Run(tc.name+"/encode", func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if _, err := c.Encode(tc.v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if _, err := c.Decode(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
