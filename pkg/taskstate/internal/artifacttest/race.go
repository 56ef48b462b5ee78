//go:build race

package artifacttest

// raceEnabled: the race detector's shadow memory multiplies the RSS and
// slows I/O tenfold, so RunBig checks the heap only, on a smaller file.
const raceEnabled = true
