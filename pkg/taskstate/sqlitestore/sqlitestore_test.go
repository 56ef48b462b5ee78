package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
	"github.com/taskfleet/taskfleet/pkg/taskstate/taskstatetest"
)

func open(t testing.TB) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	taskstatetest.Run(t, "sqlite", taskstatetest.Harness{
		NewStore: func(t *testing.T) taskstate.Store { return open(t) },
	})
}
