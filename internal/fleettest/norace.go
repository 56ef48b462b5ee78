//go:build !race

package fleettest

// RaceEnabled reports whether the test binary is race-built; [Build] then
// builds the binaries under test with -race too.
const RaceEnabled = false
