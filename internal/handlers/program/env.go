package program

import (
	"slices"
	"strings"
)

// The task context, in the program's environment.
const (
	TaskIDEnv      = "TASKFLEET_TASK_ID"
	PoolEnv        = "TASKFLEET_POOL"
	KindEnv        = "TASKFLEET_KIND"
	AttemptEnv     = "TASKFLEET_ATTEMPT"
	MaxAttemptsEnv = "TASKFLEET_MAX_ATTEMPTS"
	PhaseEnv       = "TASKFLEET_PHASE"
	// TaskFileEnv names a file holding the task document (the same JSON as
	// stdin).
	TaskFileEnv = "TASKFLEET_TASK_FILE"
	// ResultFileEnv names a file the program may write its JSON result to;
	// when it exists after the run, it is read instead of stdout.
	ResultFileEnv  = "TASKFLEET_RESULT_FILE"
	WorkDirEnv     = "TASKFLEET_WORK_DIR"
	ArtifactDirEnv = "TASKFLEET_ARTIFACT_DIR"
	DeadlineEnv    = "TASKFLEET_DEADLINE"
)

// inherited are the worker's variables every program gets (LC_* too).
var inherited = []string{"PATH", "HOME", "LANG", "TZ", "TMPDIR"}

// environ builds a program's environment from the worker's (base): the
// inherited variables, the spec's PassEnv and Env, then the task context
// (ctxVars, KEY=VALUE). Nothing else of base passes, and no TASKFLEET_*
// variable but the context's. The result is sorted.
func environ(base []string, s Spec, ctxVars []string) []string {
	env := map[string]string{}
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.HasPrefix(strings.ToUpper(k), reservedPrefix) {
			continue
		}
		if slices.Contains(inherited, k) || strings.HasPrefix(k, "LC_") || slices.Contains(s.PassEnv, k) {
			env[k] = v
		}
	}
	for k, v := range s.Env {
		if !strings.HasPrefix(strings.ToUpper(k), reservedPrefix) { // Validate rejects these anyway
			env[k] = v
		}
	}
	for _, kv := range ctxVars {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
