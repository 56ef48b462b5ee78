// Package artifacttest is the test suite of taskstate.ArtifactStore, run
// by each backend's tests over its own stores.
package artifacttest
