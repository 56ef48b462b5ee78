// Package taskstatetest is the conformance suite every taskstate.Store
// backend passes. A backend's test calls Run with a Harness that opens fresh,
// empty stores:
//
//	func TestConformance(t *testing.T) {
//		taskstatetest.Run(t, "sqlite", taskstatetest.Harness{NewStore: open})
//	}
//
// Subtests are named after the backend (TestConformance/sqlite/Claim/...), so
// a failure says which backend broke which rule. Cases that need atomic
// concurrent claims are skipped, with the reason printed, when the harness
// says the backend cannot provide them (FerretDB v1's findAndModify is not
// atomic); against a real MongoDB they run.
package taskstatetest
