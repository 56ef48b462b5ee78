package mongostore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/internal/mongotest"
	"github.com/taskfleet/taskfleet/pkg/taskstate/taskstatetest"
)

// openStoreAt opens a Store on a fresh database of the server at uri.
func openStoreAt(t testing.TB, uri string) *Store {
	t.Helper()
	db := mongotest.Database(t, uri)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{URI: uri, Database: db})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// racyStore is a deliberately broken backend: it checks, then acts in a
// second command (a find, then an update by _id), so two callers can both
// act on what they both saw. The first two checks wait for each other
// before either acts, which makes the race happen on every run.
type racyStore struct {
	*Store
	claim, finish bool // which method is racy

	checks atomic.Int32
	both   chan struct{} // closed by the second check
}

func newRacyStore(s *Store, claim, finish bool) *racyStore {
	return &racyStore{Store: s, claim: claim, finish: finish, both: make(chan struct{})}
}

// checked waits until two checks have been made.
func (r *racyStore) checked(ctx context.Context) error {
	if r.checks.Add(1) == 2 {
		close(r.both)
	}
	select {
	case <-r.both:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *racyStore) Claim(ctx context.Context, p taskstate.ClaimParams) ([]*taskstate.Task, error) {
	if !r.claim {
		return r.Store.Claim(ctx, p)
	}
	c := r.db.Collection(p.Pool)
	cur, err := c.Find(ctx, claimFilter(p, nil), options.Find().
		SetSort(bson.D{{Key: fPriority, Value: -1}, {Key: fSeq, Value: 1}}).
		SetLimit(int64(max(p.Limit, 1))).SetProjection(bson.D{{Key: fID, Value: 1}}))
	if err != nil {
		return nil, err
	}
	var found []struct {
		ID bson.ObjectID `bson:"_id"`
	}
	if err := cur.All(ctx, &found); err != nil {
		return nil, err
	}
	if err := r.checked(ctx); err != nil {
		return nil, err
	}
	var out []*taskstate.Task
	for _, f := range found {
		_, err := c.UpdateOne(ctx, bson.D{{Key: fID, Value: f.ID}}, bson.D{
			{Key: "$set", Value: bson.D{
				{Key: fStatus, Value: string(taskstate.StatusRunning)},
				{Key: fLease, Value: bson.D{{Key: "owner", Value: p.Owner}, {Key: "token", Value: p.Token}, {Key: "until", Value: p.Now.Add(p.Lease)}}},
				{Key: fClaimedFrom, Value: string(p.From)},
			}},
			{Key: "$inc", Value: bson.D{{Key: fAttempts, Value: 1}}},
		})
		if err != nil {
			return nil, err
		}
		task, err := r.Get(ctx, taskstate.GetParams{Pool: p.Pool, ID: f.ID.Hex()})
		if err != nil {
			return nil, err
		}
		out = append(out, task)
	}
	return out, nil
}

func (r *racyStore) Finish(ctx context.Context, p taskstate.FinishParams) ([]bool, error) {
	if !r.finish {
		return r.Store.Finish(ctx, p)
	}
	c := r.db.Collection(p.Pool)
	applied := make([]bool, len(p.Items))
	for i, tr := range p.Items {
		cur, err := r.Get(ctx, taskstate.GetParams{Pool: p.Pool, ID: tr.ID})
		if err != nil {
			return nil, err
		}
		if err := r.checked(ctx); err != nil {
			return nil, err
		}
		if cur.Status != taskstate.StatusRunning || cur.Lease.Token != tr.Token {
			continue
		}
		id, _ := bson.ObjectIDFromHex(tr.ID)
		if _, err := c.UpdateOne(ctx, bson.D{{Key: fID, Value: id}}, transitionUpdate(p.Now, tr)); err != nil {
			return nil, err
		}
		applied[i] = true
	}
	return applied, nil
}

// TestContractCatchesRacyCheckThenAct is the negative control of the
// atomicity cases on the server they run on in TestStoreContract (through
// the serialising proxy on FerretDB): each passes on the real store and
// fails on a store that checks and acts in two commands, so the proxy
// leaves room for races in our own command sequence and the cases catch
// them.
func TestContractCatchesRacyCheckThenAct(t *testing.T) {
	t.Parallel()
	uri, ok := atomicURI(t)
	if !ok {
		t.Skipf("no server with atomic single commands: %s is not set and %s is FerretDB", mongotest.EnvProxyURI, EnvTestURI)
	}
	racy := map[string]struct{ claim, finish bool }{
		"Claim/ConcurrentClaimsAreExclusive": {claim: true},
		"Claim/ConcurrentCommitsApplyOnce":   {finish: true},
	}
	for _, c := range taskstatetest.Cases() {
		if !c.NeedsAtomicClaims {
			continue
		}
		name := c.Group + "/" + c.Name
		fault, ok := racy[name]
		require.True(t, ok, "atomicity case %s has no racy store in this negative control", name)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			require.Empty(t, taskstatetest.Check(ctx, c, openStoreAt(t, uri)), "the real store passes")
			fails := taskstatetest.Check(ctx, c, newRacyStore(openStoreAt(t, uri), fault.claim, fault.finish))
			require.NotEmpty(t, fails, "the case must catch a check-then-act %+v", fault)
			t.Logf("racy store: %s", fails[0])
		})
	}
}
