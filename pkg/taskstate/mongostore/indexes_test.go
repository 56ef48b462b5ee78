package mongostore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestDuplicateKeysNamed: a collection that already holds two tasks with
// one key (another program wrote them) cannot get the unique key index;
// the create says so and names the key.
func TestDuplicateKeysNamed(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	c := s.db.Collection("dups")
	_, err := c.InsertMany(t.Context(), []any{
		bson.D{{Key: fKey, Value: "k-twice"}, {Key: fStatus, Value: "waiting"}},
		bson.D{{Key: fKey, Value: "k-twice"}, {Key: fStatus, Value: "waiting"}},
		bson.D{{Key: fKey, Value: "k-once"}, {Key: fStatus, Value: "waiting"}},
	})
	require.NoError(t, err)
	_, err = s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: "dups", Now: time.Now(), Tasks: newTasks("d", 1)})
	require.ErrorIs(t, err, ErrDuplicateKeys)
	require.Contains(t, err.Error(), "key k-twice is held by 2 tasks")
	require.NotContains(t, err.Error(), "k-once")
}
