package mongostore

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/internal/mongotest"
	"github.com/taskfleet/taskfleet/pkg/taskstate/taskstatetest"
)

// TestStoreContract runs the Store contract suite, one fresh database per
// case. Every case runs on the test server as is; on FerretDB (the server
// of `make test`), whose findAndModify and conditional updates are not
// atomic, the atomicity cases run through its serialising proxy instead,
// and say so in the output. Against a real MongoDB every case runs on it.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	taskstatetest.Exercise(t.Context(), t, func(t *testing.T) taskstate.Store { return openTestStore(t) }, exerciseOpts(t))
}

// atomicNote is what a case run through the proxy proves.
const atomicNote = "the server is FerretDB, whose findAndModify and conditional update are a query then a write; " +
	"this case runs through its serialising proxy (" + mongotest.EnvProxyURI + "), one command at a time: " +
	"it proves our command sequence is race-free given atomic single commands, which MongoDB guarantees per document"

// exerciseOpts routes the atomicity cases to a server whose single
// commands are atomic, or skips them (with the reason) if there is none,
// and skips the nested-array cases on FerretDB, which refuses to store
// arrays of arrays ("nested arrays are not supported"); MongoDB stores them.
func exerciseOpts(t *testing.T) *taskstatetest.ExerciseOpts {
	t.Helper()
	opts := &taskstatetest.ExerciseOpts{}
	uri, ok := atomicURI(t)
	switch {
	case !ok:
		opts.NoAtomicClaims = true
		opts.SkipReason = "the server is FerretDB (buildInfo reports ferretdb fields), whose findAndModify is not atomic under concurrency, and " +
			mongotest.EnvProxyURI + " is not set; run through tools/mongotestserver/with-server.sh, or point " + EnvTestURI + " at a real MongoDB"
	case uri == testURI(t):
		return opts // a real MongoDB
	default:
		opts.AtomicStore = func(t *testing.T) taskstate.Store { return openStoreAt(t, uri) }
		opts.AtomicNote = atomicNote
	}
	opts.NoNestedArrays = "the server is FerretDB, which refuses documents with arrays of arrays; MongoDB stores them"
	return opts
}

// atomicURI returns a URI whose single commands are atomic: the test
// server's own unless it is FerretDB, else its serialising proxy's; false
// if there is neither.
func atomicURI(t *testing.T) (string, bool) {
	t.Helper()
	probe := openTestStore(t)
	ferret, err := probe.IsFerretDB(t.Context())
	require.NoError(t, err)
	if !ferret {
		return testURI(t), true
	}
	uri := mongotest.ProxyURI()
	return uri, uri != ""
}
