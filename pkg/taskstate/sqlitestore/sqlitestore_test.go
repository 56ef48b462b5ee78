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

// TestStoreContract runs the Store contract suite, one fresh database file
// per case.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	taskstatetest.Exercise(t.Context(), t, func(t *testing.T) taskstate.Store { return open(t) }, nil)
}
