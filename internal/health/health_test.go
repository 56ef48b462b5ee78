package health_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/taskfleet/taskfleet/internal/fleettest"
	"github.com/taskfleet/taskfleet/internal/health"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestReadyFollowsChecks: Ready answers at once from the last check: not
// ready before one finished, while checks fail or hang past Timeout, and
// while draining.
func TestReadyFollowsChecks(t *testing.T) {
	var hang atomic.Bool
	check := func(ctx context.Context) error {
		if hang.Load() {
			<-ctx.Done() // a store that stopped answering
			return ctx.Err()
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	m, err := health.Start(ctx, health.Config{Check: check, Interval: 10 * time.Millisecond, Timeout: 50 * time.Millisecond})
	require.NoError(t, err)
	defer func() { cancel(); <-m.Done() }()

	fleettest.Eventually(t, 5*time.Second, m.Ready)
	hang.Store(true)
	fleettest.Eventually(t, 5*time.Second, func() error {
		if err := m.Ready(); !errors.Is(err, health.ErrUnreachable) {
			return errors.New("still ready")
		}
		return nil
	})
	start := time.Now()
	require.ErrorIs(t, m.Ready(), context.DeadlineExceeded)
	require.Less(t, time.Since(start), 10*time.Millisecond, "Ready never waits on the store")
	hang.Store(false)
	fleettest.Eventually(t, 5*time.Second, m.Ready)
	m.SetDraining()
	require.ErrorIs(t, m.Ready(), health.ErrDraining)
	require.NoError(t, m.Err(), "not fatal")
}

// TestFileLost: a deleted SQLite file is fatal once: OnFatal is called
// once and Ready stays failed.
func TestFileLost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: path})
	require.NoError(t, err)
	defer s.Close()
	var fatal atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := health.Start(ctx, health.Config{Check: func(ctx context.Context) error { _, err := s.ListPools(ctx); return err },
		File: path, Interval: 10 * time.Millisecond, OnFatal: func(error) { fatal.Add(1) }})
	require.NoError(t, err)
	fleettest.Eventually(t, 5*time.Second, m.Ready)
	require.NoError(t, os.Remove(path))
	<-m.Fatal()
	<-m.Done()
	require.ErrorIs(t, m.Err(), health.ErrStoreGone)
	require.ErrorContains(t, m.Ready(), path+" was deleted")
	m.Observe(errors.New("database disk image is malformed"))
	require.Equal(t, int32(1), fatal.Load(), "reported once")

	_, err = health.Start(ctx, health.Config{Check: func(context.Context) error { return nil }, File: path})
	require.ErrorIs(t, err, os.ErrNotExist, "the file must exist at start")
}
