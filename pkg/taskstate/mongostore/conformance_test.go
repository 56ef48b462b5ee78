package mongostore

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/taskstatetest"
)

// TestConformance runs the shared Store suite against this backend, one
// fresh database per case. Against FerretDB (the test server of `make
// test`) the concurrent-atomicity cases are skipped with the reason
// printed; against a real MongoDB they all run.
func TestConformance(t *testing.T) {
	probe := openTestStore(t)
	ferret, err := probe.IsFerretDB(t.Context())
	require.NoError(t, err)
	h := taskstatetest.Harness{
		NewStore: func(t *testing.T) taskstate.Store { return openTestStore(t) },
	}
	if ferret {
		h.NoAtomicClaims = true
		h.SkipReason = "the server is FerretDB (buildInfo reports ferretdb fields), whose findAndModify is not atomic under concurrency; point " + EnvTestURI + " at a real MongoDB to run it"
	}
	taskstatetest.Run(t, "mongo", h)
}
