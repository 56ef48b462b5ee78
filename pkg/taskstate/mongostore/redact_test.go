package mongostore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRedact checks that Redact is the shared redactor (its table test is
// in internal/redact) on the URIs this package sees.
func TestRedact(t *testing.T) {
	t.Parallel()
	require.Equal(t, "mongodb://***@h1:1,h2:2/?replicaSet=rs0&tlsCertificateKeyFilePassword=***",
		Redact("mongodb://u:p@ss/w@h1:1,h2:2/?replicaSet=rs0&tlsCertificateKeyFilePassword=hunter2"))
	require.Equal(t, "mongodb://localhost:27017/", Redact("mongodb://localhost:27017/"))
}

func TestScrubberRemovesSecrets(t *testing.T) {
	t.Parallel()
	uri := "mongodb://alice:p%40ssw0rd@h1,h2/?tlsCertificateKeyFilePassword=hunter2"
	sc := newScrubber(uri)
	cause := errors.New("dial " + uri + ": password p@ssw0rd (p%40ssw0rd) rejected; key hunter2")
	err := sc.wrap("connect", cause)
	for _, secret := range []string{"p@ssw0rd", "p%40ssw0rd", "hunter2", "alice:"} {
		require.NotContains(t, err.Error(), secret)
	}
	require.Contains(t, err.Error(), "mongodb://***@h1,h2/")
	require.ErrorIs(t, err, cause, "wrap keeps the chain for errors.Is")

	opaque := sc.wrapOpaque("connect", cause)
	require.NotContains(t, opaque.Error(), "p@ssw0rd")
	require.NoError(t, errors.Unwrap(opaque), "wrapOpaque must not expose the driver error")
	require.ErrorIs(t, sc.wrapOpaque("ping", context.DeadlineExceeded), context.DeadlineExceeded)
}

// TestOpenErrorHidesCredentials opens a URI with a password against a port
// nothing listens on: the error names the redacted URI, never the password.
// It needs no server.
func TestOpenErrorHidesCredentials(t *testing.T) {
	t.Parallel()
	const password = "Sup3rS3cretPw"
	uris := []string{
		"mongodb://taskfleet:" + password + "@127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300",
		"mongodb://taskfleet:" + password + "@127.0.0.1:1/?serverSelectionTimeoutMS=300&authSource=admin&directConnection=true",
		// Invalid: rejected while parsing, before any dial.
		"mongodb://taskfleet:" + password + "@127.0.0.1:1/?serverSelectionTimeoutMS=notanumber",
		"mongodb://taskfleet:" + password + "/x@127.0.0.1:1/",
	}
	for _, uri := range uris {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		s, err := Open(ctx, Config{URI: uri})
		cancel()
		if s != nil {
			_ = s.Close()
		}
		require.Error(t, err)
		require.NotContains(t, err.Error(), password)
		require.NotContains(t, err.Error(), "taskfleet:")
		require.True(t, strings.HasPrefix(err.Error(), "mongostore: "), "error %q", err)
		require.Contains(t, err.Error(), "***@", "the error names the redacted URI: %q", err)
	}
}

func TestOpenRequiresURI(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), Config{})
	require.ErrorContains(t, err, "URI is required")
}
