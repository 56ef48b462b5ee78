package events_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/events"
)

// TestRedact checks that Redact is the shared redactor (its table test is
// in internal/redact) on the URLs this package sees.
func TestRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://a:1@h1:4222,nats://h2:4222, nats://b:2@h3:4222", "nats://***@h1:4222,nats://h2:4222, nats://***@h3:4222"},
	} {
		require.Equal(t, tc.want, events.Redact(tc.in), "Redact(%q)", tc.in)
	}
}
