package events_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/events"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://user:pass@127.0.0.1:4222", "nats://***@127.0.0.1:4222"},
		{"nats://s3cr3tT0ken@host:4222", "nats://***@host:4222"},
		{"tls://user:p@ss/w:rd@host:4222", "tls://***@host:4222"},
		{"nats://user:p%40ss@host", "nats://***@host"},
		{"user:pass@host:4222", "***@host:4222"},
		{"nats://a:1@h1:4222,nats://h2:4222, nats://b:2@h3:4222", "nats://***@h1:4222,nats://h2:4222, nats://***@h3:4222"},
		{"ws://u:p@host:8080", "ws://***@host:8080"},
	} {
		require.Equal(t, tc.want, events.Redact(tc.in), "Redact(%q)", tc.in)
	}
}
