package mongotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// EnvURI names the environment variable that points the tests at a
// MongoDB (or MongoDB-wire) server. `make test` starts
// tools/mongotestserver and sets it.
const EnvURI = "TASKFLEET_TEST_MONGO_URI"

// EnvProxyURI names the environment variable with the URI of the same
// test server through tools/mongotestserver's serialising proxy, which
// runs one command at a time. `make test` sets it; against a real MongoDB
// it is not needed (its single commands are atomic).
const EnvProxyURI = "TASKFLEET_TEST_MONGO_PROXY_URI"

// ProxyURI returns the serialised test server's URI, or "" if unset.
func ProxyURI() string { return os.Getenv(EnvProxyURI) }

// URI returns the test server's URI or skips the test.
func URI(t testing.TB) string {
	t.Helper()
	uri := os.Getenv(EnvURI)
	if uri == "" {
		t.Skipf("%s is not set: no MongoDB server to test against (run the tests through tools/mongotestserver/with-server.sh, or set it to a mongodb:// URI)", EnvURI)
	}
	return uri
}

// Database returns a fresh database name on the server at uri and drops
// that database when the test ends, through its own connection, after the
// cleanups the test registers later (such as closing the store under test).
func Database(t testing.TB, uri string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "taskfleet_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			t.Errorf("drop test database %s: %v", db, err)
			return
		}
		defer func() { _ = c.Disconnect(ctx) }()
		if err := c.Database(db).Drop(ctx); err != nil {
			t.Errorf("drop test database %s: %v", db, err)
		}
	})
	return db
}
