package events

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScrub(t *testing.T) {
	t.Parallel()
	sc := newScrubber(Config{
		URL:      "nats://alice:p%40ss-word@h1:4222,nats://tok3n-xyz@h2:4222",
		Password: "field-pass",
		Token:    "field-token",
		User:     "bob", // a user name is not a secret
	})
	for _, tc := range []struct{ in, want string }{
		{"dial nats://alice:p%40ss-word@h1:4222 failed", "dial nats://***@h1:4222 failed"},
		{"bad password p@ss-word", "bad password ***"},
		{"token tok3n-xyz rejected", "token *** rejected"},
		{"field-pass and field-token", "*** and ***"},
		{"user bob", "user bob"},
	} {
		require.Equal(t, tc.want, sc.scrub(tc.in))
	}
	require.Equal(t, "x", newScrubber(Config{Password: "ab"}).scrub("x"), "short secrets are not scrubbed")
}
