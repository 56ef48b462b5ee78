//go:build !race

package artifacttest

const raceEnabled = false
