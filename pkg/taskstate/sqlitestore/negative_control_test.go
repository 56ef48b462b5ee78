package sqlitestore_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
	"github.com/taskfleet/taskfleet/pkg/taskstate/taskstatetest"
)

// unfencedStore is a deliberately broken backend: its Finish skips the
// fence by reading each task's current lease token and writing under it,
// whatever token the caller holds.
type unfencedStore struct{ *sqlitestore.Store }

func (s unfencedStore) Finish(ctx context.Context, p taskstate.FinishParams) ([]bool, error) {
	p.Items = slices.Clone(p.Items)
	for i, tr := range p.Items {
		cur, err := s.Get(ctx, taskstate.GetParams{Pool: p.Pool, ID: tr.ID})
		if err == nil && cur.Status == taskstate.StatusRunning {
			p.Items[i].Token = cur.Lease.Token
		}
	}
	return s.Store.Finish(ctx, p)
}

// TestStoreContractCatchesUnfencedFinish is the contract suite's negative
// control: run through taskstatetest.Check, the fencing cases fail on a
// Store whose Finish ignores the lease token, and every case passes on the
// real store (so the failures are the wrapper's, not Check's).
func TestStoreContractCatchesUnfencedFinish(t *testing.T) {
	t.Parallel()
	var (
		mu               sync.Mutex
		fenced, unfenced []string
	)
	// The group returns once its parallel subtests are done.
	t.Run("cases", func(t *testing.T) {
		for _, c := range taskstatetest.Cases() {
			name := c.Group + "/" + c.Name
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				for _, broken := range []bool{false, true} {
					s := open(t)
					var store taskstate.Store = s
					if broken {
						store = unfencedStore{s}
					}
					fails := taskstatetest.Check(t.Context(), c, store)
					require.NoError(t, s.Close())
					if len(fails) == 0 {
						continue
					}
					t.Logf("unfenced=%v: %s", broken, firstLine(fails[0]))
					mu.Lock()
					if broken {
						unfenced = append(unfenced, name)
					} else {
						fenced = append(fenced, name)
					}
					mu.Unlock()
				}
			})
		}
	})
	require.Empty(t, fenced, "the real store passes every case")
	require.Subset(t, unfenced, []string{"Finish/AppliedPerItem", "Finish/FencedByToken", "Update/StatusClearsLease"},
		"the suite must catch a Finish that skips the fence")
}

// firstLine returns the Error and Messages lines of a require failure.
func firstLine(msg string) string {
	var keep []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "Error:") || strings.HasPrefix(l, "Messages:") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return msg
	}
	return strings.Join(keep, " ")
}
