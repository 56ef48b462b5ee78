package mongostore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/internal/mongotest"
)

// EnvTestURI names the environment variable that points the tests at a
// MongoDB (or MongoDB-wire) server.
const EnvTestURI = mongotest.EnvURI

// testURI returns the test server's URI or skips the test.
func testURI(t testing.TB) string {
	t.Helper()
	return mongotest.URI(t)
}

// openTestStore opens a Store on a fresh database with a random name; when
// the test ends it closes the store (the test may have closed it already)
// and drops the database.
func openTestStore(t testing.TB) *Store {
	t.Helper()
	uri := testURI(t)
	db := mongotest.Database(t, uri)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{URI: uri, Database: db})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close(), "closing twice is fine") })
	return s
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
