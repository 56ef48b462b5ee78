package mongostore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// EnvTestURI names the environment variable that points the tests at a
// MongoDB (or MongoDB-wire) server. `make test` starts tools/mongotestserver
// and sets it.
const EnvTestURI = "TASKFLEET_TEST_MONGO_URI"

// testURI returns the test server's URI or skips the test.
func testURI(t testing.TB) string {
	t.Helper()
	uri := os.Getenv(EnvTestURI)
	if uri == "" {
		t.Skipf("%s is not set: no MongoDB server to test against (run the tests through tools/mongotestserver/with-server.sh, or set it to a mongodb:// URI)", EnvTestURI)
	}
	return uri
}

// openTestStore opens a Store on a fresh database with a random name; when
// the test ends it closes the store (the test may have closed it already)
// and drops the database.
func openTestStore(t testing.TB) *Store {
	t.Helper()
	uri := testURI(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "taskfleet_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{URI: uri, Database: db})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, s.Close(), "closing twice is fine")
		dropDatabase(t, uri, db)
	})
	return s
}

// dropDatabase drops a test database through its own connection, so that it
// works after the store under test was closed.
func dropDatabase(t testing.TB, uri, db string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{URI: uri, Database: db})
	if err != nil {
		t.Errorf("drop test database %s: %v", db, err)
		return
	}
	defer s.Close()
	if err := s.Database().Drop(ctx); err != nil {
		t.Errorf("drop test database %s: %v", db, err)
	}
}

// newTasks returns n new tasks whose keys start with prefix.
func newTasks(prefix string, n int) []taskstate.NewTask {
	out := make([]taskstate.NewTask, n)
	for i := range out {
		filter := map[string]any{"name": fmt.Sprintf("%s-%d", prefix, i), "i": float64(i)}
		out[i] = taskstate.NewTask{
			ID: taskstate.NewID(), Kind: "noop", Key: taskstate.Key("noop", filter),
			Def: []byte{byte(i)}, Filter: filter, MaxAttempts: 3,
		}
	}
	return out
}
