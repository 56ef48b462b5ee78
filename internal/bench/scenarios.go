package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/taskfleet/taskfleet/internal/handlers"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// fill creates n no-op tasks in pool through m, in batches of cfg.Batch,
// and returns the time spent in Create (building the specs is not timed).
// A progress line goes out every ProgressEvery.
func (b *bench) fill(ctx context.Context, m *taskstate.Manager, label string, n int) (fillTimes, error) {
	specs := make([]taskstate.TaskSpec, 0, min(b.cfg.Batch, n))
	var ft fillTimes
	start := time.Now()
	last, lastN := start, 0
	for off := 0; off < n; off += b.cfg.Batch {
		specs = specs[:0]
		for i := off; i < min(off+b.cfg.Batch, n); i++ {
			specs = append(specs, taskstate.TaskSpec{Kind: "noop", Def: Def{Run: b.run, Seq: i}})
		}
		t0 := time.Now()
		res, err := m.Create(ctx, specs, taskstate.CreateOptions{})
		ft.add(len(specs), time.Since(t0))
		if err != nil {
			return ft, err
		}
		if res.NewCount != len(specs) {
			return ft, fmt.Errorf("created %d of %d tasks: the pool already held some", res.NewCount, len(specs))
		}
		if now := time.Now(); now.Sub(last) >= b.cfg.ProgressEvery {
			done := off + len(specs)
			fmt.Fprintf(b.out, "%s: created [ %s / %s ], tasks/s [ %s ] [%s]\n", label, count(done), count(n),
				count(int(float64(done-lastN)/now.Sub(last).Seconds())), now.Sub(start).Round(time.Second))
			last, lastN = now, done
		}
	}
	return ft, nil
}

// fillTimes is how long each Create call of a fill took, and for how
// many tasks.
type fillTimes struct {
	spent time.Duration
	sizes []int
	times []time.Duration
}

func (f *fillTimes) add(n int, d time.Duration) {
	f.spent += d
	f.sizes = append(f.sizes, n)
	f.times = append(f.times, d)
}

// tenths returns the rate of the calls that created the first tenth of
// the tasks, and of those that created the last tenth (whole calls, so at
// least a tenth each): whether the rate holds as the pool grows.
func (f *fillTimes) tenths() (first, last float64) {
	total := 0
	for _, n := range f.sizes {
		total += n
	}
	rate := func(order func(i int) int) float64 {
		tasks, spent := 0, time.Duration(0)
		for i := range f.sizes {
			j := order(i)
			tasks, spent = tasks+f.sizes[j], spent+f.times[j]
			if 10*tasks >= total {
				break
			}
		}
		if spent <= 0 {
			return 0
		}
		return float64(tasks) / spent.Seconds()
	}
	return rate(func(i int) int { return i }), rate(func(i int) int { return len(f.sizes) - 1 - i })
}

// burndown creates N tasks, then starts the fleet and times it until
// every task is finished.
func (b *bench) burndown(ctx context.Context) (*Throughput, error) {
	pool := b.pool(Burndown)
	dm, err := b.manager(pool, b.dispatcherNotifier())
	if err != nil {
		return nil, err
	}
	n := b.cfg.N
	fmt.Fprintf(b.out, "burndown: creating %s no-op tasks\n", count(n))
	if _, err := b.fill(ctx, dm, "burndown", n); err != nil {
		return nil, err
	}
	fmt.Fprintf(b.out, "burndown: starting %d runner(s) × concurrency %d\n", b.cfg.Workers, b.cfg.Concurrency)
	fl, err := b.startFleet(ctx, pool, b.workerNotifier(), map[string]taskstate.HandlerFunc{"noop": handlers.Noop})
	if err != nil {
		return nil, err
	}
	start, cpu0 := time.Now(), sampleCPU()
	last, lastN := start, int64(0)
	err = fl.waitFinished(ctx, int64(n), b.cfg.ProgressEvery, func() {
		now, done := time.Now(), fl.sink.finished()
		fmt.Fprintf(b.out, "burndown: worked [ %s / %s ], tasks/s [ %s ] [%s]\n", count(int(done)), count(n),
			count(int(float64(done-lastN)/now.Sub(last).Seconds())), now.Sub(start).Round(time.Second))
		last, lastN = now, done
	})
	elapsed, use := time.Since(start), cpuBetween(cpu0, sampleCPU(), n)
	fl.stop()
	if err != nil {
		return nil, err
	}
	c, err := dm.Stat(ctx, taskstate.Query{})
	if err != nil {
		return nil, err
	}
	t := &Throughput{
		Tasks: n, Done: c[taskstate.StatusDone], Failed: c[taskstate.StatusFailed],
		Seconds: elapsed.Seconds(), TasksPerSec: float64(n) / elapsed.Seconds(), TargetPerSec: TargetBurndown,
		ClaimRoundTrips: int(fl.sink.claims.Load()), CommitRoundTrips: int(fl.sink.commits.Load()),
		CPUPerTaskMicros: use.PerTask, StealPct: use.StealPct,
	}
	if t.Done+t.Failed != n || c.Total() != n {
		return t, fmt.Errorf("the pool holds %d done and %d failed of %d tasks after the run", t.Done, t.Failed, n)
	}
	fmt.Fprintf(b.out, "burndown: %s tasks in %s: %s\n", count(n), seconds(t.Seconds), rate(t.TasksPerSec))
	return t, nil
}

// pickup times create → handler start, one task at a time on an idle
// fleet, waiting for each task to be committed before the next.
func (b *bench) pickup(ctx context.Context) (*Latency, error) {
	return b.timePickup(ctx, b.pool(Pickup), "pickup")
}

// timePickup is the pickup scenario on pool; label starts its lines.
func (b *bench) timePickup(ctx context.Context, pool, label string) (*Latency, error) {
	dm, err := b.manager(pool, b.dispatcherNotifier())
	if err != nil {
		return nil, err
	}
	started := make(chan time.Duration, 1)
	timed := func(ctx context.Context, t *taskstate.Task, param any) (any, error) {
		now := time.Now()
		def, err := taskstate.Convert[Def](param)
		if err != nil {
			return nil, err
		}
		select {
		case started <- now.Sub(time.Unix(0, def.CreatedNs)):
		default:
		}
		return handlers.Noop(ctx, t, param)
	}
	fl, err := b.startFleet(ctx, pool, b.workerNotifier(), map[string]taskstate.HandlerFunc{"noop": timed})
	if err != nil {
		return nil, err
	}
	defer fl.stop()
	n := b.cfg.PickupSamples
	fmt.Fprintf(b.out, "%s: %d samples, events %s\n", label, n, onOff(!b.cfg.NoEvents))
	samples := b.newSampler(label, n)
	creates := make([]time.Duration, 0, n)
	for i := range n {
		if err := sleep(ctx, b.cfg.Idle+randUpTo(b.arrival)); err != nil {
			return nil, err
		}
		t0 := time.Now()
		spec := taskstate.TaskSpec{Kind: "noop", Def: Def{Run: b.run, Seq: i, CreatedNs: t0.UnixNano()}}
		if _, err := dm.Create(ctx, []taskstate.TaskSpec{spec}, taskstate.CreateOptions{}); err != nil {
			return nil, err
		}
		creates = append(creates, time.Since(t0))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case d := <-started:
			samples.add(d)
		}
		if err := fl.waitFinished(ctx, int64(i+1), 0, nil); err != nil {
			return nil, err
		}
	}
	if err := b.checkDone(ctx, dm, n); err != nil {
		return nil, err
	}
	l := samples.summary()
	l.Events = !b.cfg.NoEvents
	l.CreateP50 = summarize(creates).P50
	if l.Events {
		l.TargetP50, l.TargetP99 = TargetPickupP50, TargetPickupP99
	}
	fmt.Fprintf(b.out, "%s: p50 %s, p90 %s, p99 %s, max %s (Create returned after %s at p50)\n", label, l.P50, l.P90, l.P99, l.Max, l.CreateP50)
	return &l, nil
}

// wait times Manager.Wait's return after the commit of the task it waits
// for: a handler holds the pool's only undone task while a waiter
// subscribes and counts; then the handler returns, the runner commits, and
// the time from the commit (stamped as the committed notification leaves
// the Manager) to Wait's return is one sample.
func (b *bench) wait(ctx context.Context) (*Latency, error) {
	pool := b.pool(Wait)
	dm, err := b.manager(pool, b.dispatcherNotifier())
	if err != nil {
		return nil, err
	}
	stamp := &stampNotifier{next: b.workerNotifier(), committed: make(chan time.Time, 1)}
	held := make(chan struct{}, 1)
	release := make(chan struct{}, 1)
	hold := func(ctx context.Context, _ *taskstate.Task, param any) (any, error) {
		select {
		case held <- struct{}{}:
		default:
		}
		select {
		case <-release:
			return param, nil
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	fl, err := b.startFleet(ctx, pool, stamp, map[string]taskstate.HandlerFunc{"hold": hold})
	if err != nil {
		return nil, err
	}
	defer fl.stop()
	n := b.cfg.WaitSamples
	fmt.Fprintf(b.out, "wait: %d samples, events %s\n", n, onOff(!b.cfg.NoEvents))
	samples := b.newSampler("wait", n)
	for i := range n {
		if err := sleep(ctx, b.cfg.Idle); err != nil {
			return nil, err
		}
		spec := taskstate.TaskSpec{Kind: "hold", Def: Def{Run: b.run, Seq: i}}
		if _, err := dm.Create(ctx, []taskstate.TaskSpec{spec}, taskstate.CreateOptions{}); err != nil {
			return nil, err
		}
		if err := receive(ctx, held); err != nil {
			return nil, err
		}
		d, err := b.waitOnce(ctx, dm, pool, stamp, release)
		if err != nil {
			return nil, err
		}
		samples.add(d)
	}
	if err := b.checkDone(ctx, dm, n); err != nil {
		return nil, err
	}
	l := samples.summary()
	l.Events = !b.cfg.NoEvents
	if l.Events {
		l.TargetP99 = TargetWait
	}
	fmt.Fprintf(b.out, "wait: p50 %s, p90 %s, p99 %s, max %s\n", l.P50, l.P90, l.P99, l.Max)
	return &l, nil
}

// waitOnce runs one waiter as `dispatcher wait` does (subscribe, then
// count, then recount on each wake-up), releases the held task once the
// waiter has counted, and returns Wait's return time minus the commit
// stamp.
func (b *bench) waitOnce(ctx context.Context, dm *taskstate.Manager, pool string, stamp *stampNotifier, release chan<- struct{}) (time.Duration, error) {
	type ret struct {
		at  time.Time
		err error
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan ret, 1)
	counted := make(chan struct{})
	go func() {
		var wake <-chan struct{}
		if b.dispConn != nil {
			w, err := b.dispConn.Wakeups(wctx, pool)
			if err != nil {
				done <- ret{err: err}
				return
			}
			defer w.Close()
			wake = w.C()
		}
		var once sync.Once
		_, err := dm.Wait(wctx, taskstate.WaitOptions{Wakeups: wake, Progress: func(taskstate.Counts) {
			once.Do(func() { close(counted) })
		}})
		done <- ret{at: time.Now(), err: err}
	}()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case r := <-done:
		if r.err == nil {
			r.err = errors.New("the waiter returned while the task was still held")
		}
		return 0, r.err
	case <-counted:
	}
	select { // a stamp left from an earlier sample would be wrong
	case <-stamp.committed:
	default:
	}
	release <- struct{}{}
	var r ret
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case r = <-done:
	}
	if r.err != nil {
		return 0, r.err
	}
	var committed time.Time
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case committed = <-stamp.committed:
	}
	// Without events, a recount can see the commit in the microseconds
	// between the store commit and the stamp.
	return max(0, r.at.Sub(committed)), nil
}

// create times the creation of CreateN tasks.
func (b *bench) create(ctx context.Context) (*Throughput, error) {
	pool := b.pool(Create)
	dm, err := b.manager(pool, b.dispatcherNotifier())
	if err != nil {
		return nil, err
	}
	n := b.cfg.CreateN
	fmt.Fprintf(b.out, "create: %s tasks in batches of %s\n", count(n), count(b.cfg.Batch))
	cpu0 := sampleCPU()
	ft, err := b.fill(ctx, dm, "create", n)
	if err != nil {
		return nil, err
	}
	use := cpuBetween(cpu0, sampleCPU(), n)
	b.createdIn = pool
	t := &Throughput{Tasks: n, Batch: b.cfg.Batch, Seconds: ft.spent.Seconds(), TasksPerSec: float64(n) / ft.spent.Seconds(), TargetPerSec: TargetCreate,
		CPUPerTaskMicros: use.PerTask, StealPct: use.StealPct}
	t.FirstTenthPerSec, t.LastTenthPerSec = ft.tenths()
	fmt.Fprintf(b.out, "create: %s tasks in %s: %s (first tenth %s, last tenth %s)\n", count(n), seconds(t.Seconds), rate(t.TasksPerSec),
		rate(t.FirstTenthPerSec), rate(t.LastTenthPerSec))
	return t, nil
}

// stat times Stat over the create scenario's pool (filling one when create
// did not run).
func (b *bench) stat(ctx context.Context) (*StatResult, error) {
	pool, n := b.createdIn, b.cfg.CreateN
	if pool == "" {
		pool = b.pool(Stat)
		dm, err := b.manager(pool, b.dispatcherNotifier())
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(b.out, "stat: filling a pool of %s tasks\n", count(n))
		if _, err := b.fill(ctx, dm, "stat", n); err != nil {
			return nil, err
		}
	}
	m, err := b.manager(pool, nil)
	if err != nil {
		return nil, err
	}
	times := make([]time.Duration, b.cfg.StatRuns)
	for i := range times {
		t0 := time.Now()
		c, err := m.Stat(ctx, taskstate.Query{})
		times[i] = time.Since(t0)
		if err != nil {
			return nil, err
		}
		if c.Total() != n {
			return nil, fmt.Errorf("stat counted %d tasks, want %d", c.Total(), n)
		}
	}
	l := summarize(times)
	s := &StatResult{Tasks: n, Runs: len(times), Median: l.P50, Min: l.Min, Max: l.Max, Target: TargetStat}
	fmt.Fprintf(b.out, "stat: median %s over %s tasks (%d runs)\n", s.Median, count(n), s.Runs)
	return s, nil
}

// checkDone makes sure the pool holds n tasks, all done.
func (b *bench) checkDone(ctx context.Context, m *taskstate.Manager, n int) error {
	c, err := m.Stat(ctx, taskstate.Query{})
	if err != nil {
		return err
	}
	if c[taskstate.StatusDone] != n || c.Total() != n {
		return fmt.Errorf("the pool holds %d done of %d tasks after the run, want %d", c[taskstate.StatusDone], c.Total(), n)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func receive(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ch:
		return nil
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// sampler collects one scenario's latency samples, prints a progress line
// every ProgressEvery, and summarizes them with the machine's steal over
// the time they were taken.
type sampler struct {
	b       *bench
	name    string
	n       int
	got     []time.Duration
	printed time.Time
	cpu0    cpuSample
}

func (b *bench) newSampler(name string, n int) *sampler {
	return &sampler{b: b, name: name, n: n, got: make([]time.Duration, 0, n), printed: time.Now(), cpu0: sampleCPU()}
}

func (s *sampler) add(d time.Duration) {
	s.got = append(s.got, d)
	if time.Since(s.printed) >= s.b.cfg.ProgressEvery {
		l := summarize(append([]time.Duration(nil), s.got...))
		fmt.Fprintf(s.b.out, "%s: samples [ %d / %d ], p50 [ %s ], p99 [ %s ]\n", s.name, len(s.got), s.n, l.P50, l.P99)
		s.printed = time.Now()
	}
}

func (s *sampler) summary() Latency {
	l := summarize(s.got)
	l.StealPct = cpuBetween(s.cpu0, sampleCPU(), 0).StealPct
	return l
}
