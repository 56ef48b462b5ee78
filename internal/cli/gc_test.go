package cli

import (
	"errors"
	"runtime/debug"
	"testing"
)

func TestApplyGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	got, err := ApplyGCPercent(env(nil), 400, "--gc-percent")
	if err != nil || got != 400 {
		t.Fatalf("ApplyGCPercent(400) = %d, %v; want 400", got, err)
	}
	if now := debug.SetGCPercent(100); now != 400 {
		t.Fatalf("the runtime's target is %d after ApplyGCPercent(400)", now)
	}

	// GOGC set by the operator wins and is left alone.
	for gogc, want := range map[string]int{"150": 150, "off": -1, "junk": 100} {
		got, err := ApplyGCPercent(env(map[string]string{"GOGC": gogc}), 400, "--gc-percent")
		if err != nil || got != want {
			t.Errorf("GOGC=%s: ApplyGCPercent = %d, %v; want %d", gogc, got, err, want)
		}
		if now := debug.SetGCPercent(100); now != 100 {
			t.Errorf("GOGC=%s: the target was changed to %d", gogc, now)
		}
	}

	_, err = ApplyGCPercent(env(nil), 0, "--gc-percent (env TASKFLEET_GC_PERCENT)")
	var ue *UsageError
	if !errors.As(err, &ue) || err.Error() != "--gc-percent (env TASKFLEET_GC_PERCENT): must be at least 1, got 0" {
		t.Fatalf("ApplyGCPercent(0) = %v; want a usage error naming the flag", err)
	}
}
