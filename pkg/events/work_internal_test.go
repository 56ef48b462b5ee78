package events

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKindToken(t *testing.T) {
	for _, k := range []string{"train", "lgb-model_2", strings.Repeat("k", maxKindToken)} {
		require.Equal(t, k, kindToken(k))
	}
	seen := map[string]string{}
	for _, k := range []string{"_", "_train", "a.b", "a b", "a*", "a>", "α", strings.Repeat("k", maxKindToken+1)} {
		tok := kindToken(k)
		require.True(t, validToken(tok), "%q -> %q", k, tok)
		require.True(t, strings.HasPrefix(tok, "_") && tok != anyKind, "%q -> %q: a coded kind starts with '_' and is not the any-kind queue", k, tok)
		require.NotContains(t, seen, tok, "%q and %q", k, seen[tok])
		seen[tok] = k
	}
	require.NotEqual(t, workConsumerConfig("a-b", "c").Durable, workConsumerConfig("a", "b-c").Durable)
	require.Equal(t, "taskfleet-work.p._", WorkSubject("p", ""))
	require.Equal(t, "taskfleet-work.p.train", WorkSubject("p", "train"))
}
