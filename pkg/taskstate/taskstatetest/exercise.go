package taskstatetest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// T is the part of testing.T a case uses. *testing.T implements it; so does
// the recorder Check runs cases with.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
}

// Case is one rule of the contract.
type Case struct {
	Group string // the Store method or concern: "Claim", "Finish", …
	Name  string
	// NeedsAtomicClaims marks a case that checks that concurrent claims
	// never share a task, or concurrent commits never both apply; see
	// ExerciseOpts.NoAtomicClaims and AtomicStore.
	NeedsAtomicClaims bool
	// NeedsNestedArrays marks a case whose defs hold arrays of arrays; see
	// ExerciseOpts.NoNestedArrays.
	NeedsNestedArrays bool
	// NeedsFinishClaimer marks a case of taskstate.FinishClaimer: Exercise
	// skips it for a store that is not one.
	NeedsFinishClaimer bool
	// Run checks the rule on s, a fresh, empty store.
	Run func(ctx context.Context, t T, s taskstate.Store)
}

// ExerciseOpts tunes Exercise for a backend. Nil means the defaults.
type ExerciseOpts struct {
	// NoAtomicClaims marks a backend whose concurrent claims are not
	// atomic (FerretDB v1's findAndModify); the cases that check atomicity
	// are skipped with SkipReason in the output.
	NoAtomicClaims bool
	// SkipReason explains NoAtomicClaims.
	SkipReason string
	// AtomicStore, if set, opens the stores of the cases that need atomic
	// claims, instead of newStore and instead of skipping them: a store on
	// a server whose single commands are atomic (FerretDB behind a proxy
	// that runs one command at a time). AtomicNote, logged by each of
	// those cases, says what that server proves.
	AtomicStore func(t *testing.T) taskstate.Store
	AtomicNote  string
	// NoNestedArrays, if set, says why the backend cannot store arrays of
	// arrays (FerretDB's SQLite backend); the cases that need them are
	// skipped with it in the output.
	NoNestedArrays string
}

// Exercise runs every case of Cases against the backend: one parallel
// subtest per group and per case, each on its own store from newStore,
// which must return a new, empty store. Exercise closes the store when the
// case ends (newStore's own cleanup may close it again). ctx bounds every
// case, as does the case's t.Context().
func Exercise(ctx context.Context, t *testing.T, newStore func(t *testing.T) taskstate.Store, opts *ExerciseOpts) {
	t.Helper()
	if opts == nil {
		opts = &ExerciseOpts{}
	}
	var groups []string
	byGroup := map[string][]Case{}
	for _, c := range Cases() {
		if _, ok := byGroup[c.Group]; !ok {
			groups = append(groups, c.Group)
		}
		byGroup[c.Group] = append(byGroup[c.Group], c)
	}
	for _, g := range groups {
		t.Run(g, func(t *testing.T) {
			t.Parallel()
			for _, c := range byGroup[g] {
				t.Run(c.Name, func(t *testing.T) {
					t.Parallel()
					open := newStore
					switch {
					case c.NeedsAtomicClaims && opts.AtomicStore != nil:
						open = opts.AtomicStore
						t.Log(opts.AtomicNote)
					case c.NeedsAtomicClaims && opts.NoAtomicClaims:
						t.Skipf("skipped: needs atomic concurrent claims: %s", opts.SkipReason)
					}
					if c.NeedsNestedArrays && opts.NoNestedArrays != "" {
						t.Skipf("skipped: needs nested arrays: %s", opts.NoNestedArrays)
					}
					s := open(t)
					if _, ok := s.(taskstate.FinishClaimer); c.NeedsFinishClaimer && !ok {
						_ = s.Close()
						t.Skip("skipped: the store is not a taskstate.FinishClaimer")
					}
					t.Cleanup(func() {
						if err := s.Close(); err != nil {
							t.Errorf("close store: %v", err)
						}
					})
					ctx, cancel := context.WithCancel(ctx)
					defer cancel()
					defer context.AfterFunc(t.Context(), cancel)()
					c.Run(ctx, t, s)
				})
			}
		})
	}
}

// Cases returns the contract's cases in a stable order.
func Cases() []Case {
	var out []Case
	for _, g := range [][]Case{createCases, claimCases, finishCases, leaseCases, adminCases, readCases, arrayCases, counterCases, logCases, opsCases, pageCases, pathIndexCases, finishClaimCases} {
		out = append(out, g...)
	}
	out = append(out, storeClockCases...)
	return out
}

// Check runs c against s with a recorder in place of a *testing.T and
// returns the failures it reported (none: the case passed). It is for
// negative controls: run the cases against a deliberately broken Store and
// assert that some fail. A case that panics counts as failed.
func Check(ctx context.Context, c Case, s taskstate.Store) []string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if v := recover(); v != nil {
				r.Errorf("panic: %v", v)
			}
		}()
		c.Run(ctx, r, s)
	}()
	<-done
	return r.failures()
}

// recorder is a T that records failures; FailNow ends the case's goroutine
// as testing.T's does.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) FailNow() {
	r.mu.Lock()
	if len(r.msgs) == 0 {
		r.msgs = append(r.msgs, "FailNow")
	}
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs
}
