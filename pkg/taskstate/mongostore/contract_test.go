package mongostore

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/taskstatetest"
)

// TestStoreContract runs the Store contract suite, one fresh database per
// case. Against FerretDB (the test server of `make test`) the
// concurrent-atomicity cases are skipped with the reason printed; against a
// real MongoDB they all run.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	taskstatetest.Exercise(t.Context(), t, func(t *testing.T) taskstate.Store { return openTestStore(t) }, exerciseOpts(t))
}

// exerciseOpts says whether the test server's claims are atomic.
func exerciseOpts(t *testing.T) *taskstatetest.ExerciseOpts {
	t.Helper()
	probe := openTestStore(t)
	ferret, err := probe.IsFerretDB(t.Context())
	require.NoError(t, err)
	if !ferret {
		return nil
	}
	return &taskstatetest.ExerciseOpts{
		NoAtomicClaims: true,
		SkipReason:     "the server is FerretDB (buildInfo reports ferretdb fields), whose findAndModify is not atomic under concurrency; point " + EnvTestURI + " at a real MongoDB to run it",
	}
}
