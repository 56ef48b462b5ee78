package cli

import (
	"errors"
	"runtime"
	"testing"
)

func TestApplyCPUs(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	chosen, err := ApplyCPUs(env(nil), 1, "--cpus")
	if err != nil || !chosen || runtime.GOMAXPROCS(0) != 1 {
		t.Fatalf("ApplyCPUs(1) = %v, %v with GOMAXPROCS %d; want chosen and 1", chosen, err, runtime.GOMAXPROCS(0))
	}
	runtime.GOMAXPROCS(3)

	// 0 leaves Go's default, and GOMAXPROCS set by the operator wins.
	for _, tc := range []struct {
		env    map[string]string
		n      int
		chosen bool
	}{{nil, 0, false}, {map[string]string{"GOMAXPROCS": "5"}, 1, true}, {map[string]string{"GOMAXPROCS": "5"}, 0, true}} {
		chosen, err := ApplyCPUs(env(tc.env), tc.n, "--cpus")
		if err != nil || chosen != tc.chosen || runtime.GOMAXPROCS(0) != 3 {
			t.Errorf("%v: ApplyCPUs(%d) = %v, %v with GOMAXPROCS %d; want %v and 3 untouched", tc.env, tc.n, chosen, err, runtime.GOMAXPROCS(0), tc.chosen)
		}
	}

	for n, want := range map[int]string{
		-1:   "--cpus (env TASKFLEET_CPUS): -1: want 0 (Go's default) to 1024",
		1025: "--cpus (env TASKFLEET_CPUS): 1025: want 0 (Go's default) to 1024",
	} {
		_, err := ApplyCPUs(env(nil), n, "--cpus (env TASKFLEET_CPUS)")
		var ue *UsageError
		if !errors.As(err, &ue) || err.Error() != want {
			t.Errorf("ApplyCPUs(%d) = %v; want a usage error %q", n, err, want)
		}
	}
	if runtime.GOMAXPROCS(0) != 3 {
		t.Errorf("a rejected --cpus changed GOMAXPROCS to %d", runtime.GOMAXPROCS(0))
	}
}
