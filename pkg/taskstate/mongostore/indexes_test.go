package mongostore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestIndexesIncludeKinds: a pool gets the claim index of workers with
// --kinds (status, kind, then the claim's sort).
func TestIndexesIncludeKinds(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	_, err := s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: "ix", Now: time.Now(), Tasks: newTasks("ix", 1)})
	require.NoError(t, err)
	cur, err := s.db.Collection("ix").Indexes().List(t.Context())
	require.NoError(t, err)
	var specs []struct {
		Name string `bson:"name"`
		Key  bson.D `bson:"key"`
	}
	require.NoError(t, cur.All(t.Context(), &specs))
	keys := map[string][]string{}
	for _, sp := range specs {
		for _, e := range sp.Key {
			keys[sp.Name] = append(keys[sp.Name], e.Key)
		}
	}
	require.Equal(t, []string{"status", "kind", "priority", "seq"}, keys[indexKinds], "indexes: %v", keys)
}

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
