package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func benchManager(b *testing.B, pool string) *taskstate.Manager {
	b.Helper()
	s := open(b)
	b.Cleanup(func() { s.Close() })
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: pool})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func benchSpecs(n, offset int) []taskstate.TaskSpec {
	specs := make([]taskstate.TaskSpec, n)
	for i := range specs {
		specs[i] = taskstate.TaskSpec{Kind: "noop", Def: map[string]any{"i": offset + i, "model": map[string]any{"class": "Linear"}}}
	}
	return specs
}

func createAll(b *testing.B, m *taskstate.Manager, n int) {
	b.Helper()
	const batch = 10_000
	for off := 0; off < n; off += batch {
		if _, err := m.Create(context.Background(), benchSpecs(min(batch, n-off), off), taskstate.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreate100k creates 100,000 tasks in batches of 10,000.
func BenchmarkCreate100k(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		m := benchManager(b, "bench")
		b.StartTimer()
		createAll(b, m, 100_000)
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkClaimCommit measures claim + commit of one task at a time with
// 1, 8 and 64 goroutines sharing one store (each claims with Limit 1, as a
// worker does with one free slot).
func BenchmarkClaimCommit(b *testing.B) {
	for _, g := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("goroutines-%d", g), func(b *testing.B) {
			m := benchManager(b, "bench")
			createAll(b, m, b.N+g)
			ctx := context.Background()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / g
			for range g {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range per {
						tasks, err := m.Claim(ctx, taskstate.ClaimOptions{Owner: "bench"})
						if err != nil || len(tasks) != 1 {
							b.Error("claim", err, len(tasks))
							return
						}
						if err := m.Commit(ctx, tasks[0], nil, ""); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(per*g)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}

// BenchmarkClaimCommitBatched claims up to 64 tasks per round trip and
// commits them in one round trip, as the worker runtime does under load.
func BenchmarkClaimCommitBatched(b *testing.B) {
	m := benchManager(b, "bench")
	createAll(b, m, b.N)
	b.ResetTimer()
	done := 0
	for done < b.N {
		done += claimCommit(b, m, taskstate.ClaimOptions{Owner: "bench", Limit: 64})
	}
	b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "tasks/s")
}

// claimCommit claims one batch with opts and commits it in one round trip,
// returning how many tasks it took.
func claimCommit(b *testing.B, m *taskstate.Manager, opts taskstate.ClaimOptions) int {
	ctx := context.Background()
	tasks, err := m.Claim(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	items := make([]taskstate.CommitItem, len(tasks))
	for i, t := range tasks {
		items[i] = taskstate.CommitItem{Task: t}
	}
	for _, err := range m.CommitMany(ctx, items) {
		if err != nil {
			b.Fatal(err)
		}
	}
	return len(tasks)
}

// BenchmarkStat1M counts a pool of 1,000,000 tasks by status (Qlib's
// task_stat; target ≤ 50 ms). Setup creates the pool once.
func BenchmarkStat1M(b *testing.B) {
	m := benchManager(b, "bench")
	createAll(b, m, 1_000_000)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		c, err := m.Stat(ctx, taskstate.Query{})
		if err != nil || c.Total() != 1_000_000 {
			b.Fatal(err, c)
		}
	}
}

// BenchmarkStatFiltered1M counts with a filter on the def, which cannot use
// the per-status counters and scans the pool.
func BenchmarkStatFiltered1M(b *testing.B) {
	m := benchManager(b, "bench")
	createAll(b, m, 1_000_000)
	ctx := context.Background()
	q := taskstate.Query{}.Where("filter.i", taskstate.OpLt, 1000)
	b.ResetTimer()
	for b.Loop() {
		c, err := m.Stat(ctx, q)
		if err != nil || c.Total() != 1000 {
			b.Fatal(err, c)
		}
	}
}

// BenchmarkIdleOps times the store calls of an idle worker in a pool of
// 100,000 finished tasks and one task of a kind nobody claims: a poll (an
// empty claim), a reaper's scan that finds nothing, a worker-registry
// renewal. CPU per operation times the fleet's rate of each (see
// tools/idlefleet) is what an idle fleet costs the store.
func BenchmarkIdleOps(b *testing.B) {
	m := benchManager(b, "bench")
	ctx := context.Background()
	createAll(b, m, 100_000)
	for n := 1; n > 0; { // finish every noop task
		n = claimCommit(b, m, taskstate.ClaimOptions{Kinds: []string{"noop"}, Owner: "w", Limit: 1000})
	}
	if _, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "other", Def: map[string]any{"i": -1}}}, taskstate.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Run("poll", func(b *testing.B) {
		for b.Loop() {
			ts, err := m.Claim(ctx, taskstate.ClaimOptions{Kinds: []string{"noop"}, Owner: "w", Limit: 2})
			if err != nil || len(ts) != 0 {
				b.Fatal(len(ts), err)
			}
		}
	})
	b.Run("reap", func(b *testing.B) {
		for b.Loop() {
			if rr, err := m.ReapExpired(ctx, time.Second); err != nil || rr.Requeued != 0 {
				b.Fatal(rr, err)
			}
		}
	})
}

// BenchmarkCommitAndClaim burns a pool down as a busy worker does: it
// commits each batch and claims the next, either in two write
// transactions (CommitMany, then Claim: MongoDB's way) or in one
// (CommitManyAndClaim). The difference per batch is one transaction's
// fixed part.
func BenchmarkCommitAndClaim(b *testing.B) {
	for _, batch := range []int{16, 64, 256} {
		for _, combined := range []bool{false, true} {
			name := fmt.Sprintf("batch=%d/separate", batch)
			if combined {
				name = fmt.Sprintf("batch=%d/combined", batch)
			}
			b.Run(name, func(b *testing.B) {
				m := benchManager(b, "bench")
				createAll(b, m, b.N)
				ctx := context.Background()
				opts := taskstate.ClaimOptions{Owner: "bench", Limit: batch}
				b.ResetTimer()
				held, err := m.Claim(ctx, opts)
				done := 0
				for err == nil && len(held) > 0 {
					items := make([]taskstate.CommitItem, len(held))
					for i, t := range held {
						items[i] = taskstate.CommitItem{Task: t}
					}
					var errs []error
					if combined {
						errs, held, err = m.CommitManyAndClaim(ctx, items, opts)
					} else {
						errs = m.CommitMany(ctx, items)
						held, err = m.Claim(ctx, opts)
					}
					if e := errors.Join(errs...); e != nil {
						b.Fatal(e)
					}
					done += len(items)
				}
				if err != nil || done != b.N {
					b.Fatalf("done %d of %d: %v", done, b.N, err)
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(done), "µs/task")
			})
		}
	}
}

// BenchmarkPickupPath is the store's work for one task picked up as soon
// as it is created: its create, its claim (a woken worker's, one slot)
// and its commit, one after the other; a pickup waits for the first two.
// Run it with -cpu 1, builds alternating, to compare the store's part of
// the pickup bench without its scheduling (docs/BENCHMARKS.md, round 16).
func BenchmarkPickupPath(b *testing.B) {
	m := benchManager(b, "bench")
	createAll(b, m, 10_000) // a pool with history, not an empty file
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Create(ctx, benchSpecs(1, 10_000+i), taskstate.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		claimCommit(b, m, taskstate.ClaimOptions{Owner: "bench", Limit: 1, Woken: true})
	}
}

// BenchmarkCreateOne creates one task per call, as a pickup's create does.
func BenchmarkCreateOne(b *testing.B) {
	m := benchManager(b, "bench")
	createAll(b, m, 10_000)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Create(ctx, benchSpecs(1, 10_000+i), taskstate.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
