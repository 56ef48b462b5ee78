// Package taskstatetest is the contract suite of the taskstate.Store seam.
// Every backend runs it from one test:
//
//	func TestStoreContract(t *testing.T) {
//		taskstatetest.Exercise(t.Context(), t, func(t *testing.T) taskstate.Store {
//			return openEmptyStore(t)
//		}, nil)
//	}
//
// The cases call Store methods directly, the way the Manager does, and check
// what the Store doc promises: claim order and limits, per-item fencing in
// Finish and the transitions it refuses, lost leases, the reaper's listing,
// admin updates that fence out a worker, counters that agree with a scan,
// task logs (taskstate.LogStore) by phase and attempt.
// Each case runs in its own parallel subtest on a fresh store
// (TestStoreContract/Finish/FencedByToken …), so a failure names the
// backend's test and the rule it broke.
//
// Cases are plain functions of a T (the part of testing.T they use), so a
// test can also run them with Check against a deliberately broken Store and
// assert that the suite notices.
//
// Like the seam itself, this package is internal to taskfleet and may change
// without notice.
package taskstatetest
