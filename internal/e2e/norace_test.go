//go:build unix && !race

package e2e_test

// raceEnabled reports whether the test binary is race-built; the binaries
// under test are then built with -race too.
const raceEnabled = false
