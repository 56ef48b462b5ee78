package artifacttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Harness tells Run how to get stores of the backend under test.
type Harness struct {
	// NewStore returns a new, empty store that implements
	// taskstate.ArtifactStore; the backend's test closes it.
	NewStore func(t *testing.T) taskstate.Store
	// Count returns how many chunks (rows or GridFS chunk documents) and
	// artifacts (rows or GridFS file documents) the store holds in pool,
	// whatever their state.
	Count func(t *testing.T, s taskstate.Store, pool string) (chunks, files int64)
	// ChunkSize is the size of the backend's chunks.
	ChunkSize int64
	// FenceEvery is how many bytes an upload may write past a lost lease
	// before it notices (the backend's check interval).
	FenceEvery int64
}

const pool = "art"

const mib = 1 << 20

// env is one case's store and manager.
type env struct {
	t   *testing.T
	h   Harness
	s   taskstate.Store
	m   *taskstate.Manager
	ctx context.Context
	n   int // tasks created so far: every def differs
}

func newEnv(t *testing.T, h Harness) *env {
	s := h.NewStore(t)
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: pool, Backoff: func(int) time.Duration { return 0 }})
	require.NoError(t, err)
	return &env{t: t, h: h, s: s, m: m, ctx: t.Context()}
}

// create makes n tasks and returns their ids.
func (e *env) create(n int) []string {
	specs := make([]taskstate.TaskSpec, n)
	for i := range specs {
		e.n++
		specs[i] = taskstate.TaskSpec{Kind: "noop", Def: map[string]any{"i": e.n}}
	}
	res, err := e.m.Create(e.ctx, specs, taskstate.CreateOptions{})
	require.NoError(e.t, err)
	return res.IDs
}

// claim claims the task id.
func (e *env) claim(id string) *taskstate.Task {
	tasks, err := e.m.Claim(e.ctx, taskstate.ClaimOptions{Owner: "w", Query: taskstate.ByIDs(id), Limit: 1})
	require.NoError(e.t, err)
	require.Len(e.t, tasks, 1)
	return tasks[0]
}

// stage stores body as name under t's lease.
func (e *env) stage(t *taskstate.Task, name string, body io.Reader, lim taskstate.ArtifactLimits) (taskstate.Artifact, error) {
	return e.m.StageArtifact(e.ctx, t, name, body, lim)
}

func (e *env) mustStage(t *taskstate.Task, name string, data []byte) taskstate.Artifact {
	a, err := e.stage(t, name, bytes.NewReader(data), taskstate.ArtifactLimits{})
	require.NoError(e.t, err)
	require.Equal(e.t, int64(len(data)), a.Size)
	require.Equal(e.t, sum(data), a.SHA256)
	return a
}

func (e *env) count() (chunks, files int64) { return e.h.Count(e.t, e.s, pool) }

// c returns how many chunks an artifact of size bytes takes.
func (e *env) c(size int64) int64 { return (size + e.h.ChunkSize - 1) / e.h.ChunkSize }

// read returns a committed artifact's content.
func (e *env) read(id, name string) ([]byte, taskstate.Artifact) {
	var b bytes.Buffer
	a, err := e.m.CopyArtifact(e.ctx, id, name, &b)
	require.NoError(e.t, err)
	require.Equal(e.t, a.Size, int64(b.Len()))
	require.Equal(e.t, a.SHA256, sum(b.Bytes()))
	return b.Bytes(), a
}

func (e *env) names(id string) []string {
	as, err := e.m.Artifacts(e.ctx, id)
	require.NoError(e.t, err)
	out := []string{}
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// data returns n deterministic bytes.
func data(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed ^ byte(i>>11)
	}
	return b
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	for _, c := range []struct {
		name string
		f    func(e *env)
	}{
		{"StagePromoteRead", stagePromoteRead},
		{"Names", names},
		{"Fence", fence},
		{"LeaseLostMidUpload", leaseLostMidUpload},
		{"RetryReplaces", retryReplaces},
		{"Limits", limits},
		{"RemoveAndReset", removeAndReset},
		{"CleanupStaged", cleanupStaged},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(newEnv(t, h)) })
	}
}

func stagePromoteRead(e *env) {
	t := e.t
	id := e.create(1)[0]
	task := e.claim(id)
	pred := data(2*mib+12345, 1) // three chunks, the last short
	model := data(100, 2)
	e.mustStage(task, "pred.csv", data(5000, 9)) // replaced below
	e.mustStage(task, "pred.csv", pred)
	e.mustStage(task, "model.bin", model)
	e.mustStage(task, "empty", nil)

	// Staged artifacts are invisible.
	require.Empty(t, e.names(id))
	_, _, err := e.m.OpenArtifact(e.ctx, id, "pred.csv")
	require.ErrorIs(t, err, taskstate.ErrArtifactNotFound)

	require.NoError(t, e.m.PromoteArtifacts(e.ctx, task))
	require.NoError(t, e.m.Commit(e.ctx, task, "ok", ""))

	list, err := e.m.Artifacts(e.ctx, id)
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, []string{"empty", "model.bin", "pred.csv"}, e.names(id))
	for _, a := range list {
		require.Equal(t, id, a.TaskID)
		require.Equal(t, 1, a.Attempt)
		require.False(t, a.CreatedAt.IsZero())
	}
	require.Equal(t, int64(len(pred)), list[2].Size)
	require.Equal(t, sum(pred), list[2].SHA256)
	got, a := e.read(id, "pred.csv")
	require.True(t, bytes.Equal(pred, got))
	require.Equal(t, list[2], a)
	got, _ = e.read(id, "model.bin")
	require.Equal(t, model, got)
	got, _ = e.read(id, "empty")
	require.Empty(t, got)
	_, _, err = e.m.OpenArtifact(e.ctx, id, "nope")
	require.ErrorIs(t, err, taskstate.ErrArtifactNotFound)
	chunks, files := e.count()
	require.Equal(t, e.c(2*mib+12345)+e.c(100), chunks, "the replaced pred.csv left nothing")
	require.Equal(t, int64(3), files)
}

func names(e *env) {
	t := e.t
	task := e.claim(e.create(1)[0])
	for _, bad := range []string{"", ".", "..", "a/b", `a\b`, "../x", strings.Repeat("x", 256), "a\x00b", "tab\there", "\xff"} {
		_, err := e.stage(task, bad, strings.NewReader("x"), taskstate.ArtifactLimits{})
		require.ErrorIs(t, err, taskstate.ErrInvalidArtifactName, "%q", bad)
	}
	for _, good := range []string{"pred.parquet", "a..b", "with space", strings.Repeat("x", 255), "prédictions"} {
		e.mustStage(task, good, []byte("x"))
	}
}

func fence(e *env) {
	t := e.t
	id := e.create(1)[0]
	task := e.claim(id)
	e.mustStage(task, "a", data(mib+1, 3))
	// The lease is lost (here: the task fails, which does not reset it).
	require.NoError(t, e.m.Fail(e.ctx, task, errors.New("gone")))
	_, err := e.stage(task, "b", strings.NewReader("late"), taskstate.ArtifactLimits{})
	require.ErrorIs(t, err, taskstate.ErrLeaseLost)
	err = e.m.PromoteArtifacts(e.ctx, task)
	require.ErrorIs(t, err, taskstate.ErrLeaseLost)
	require.Empty(t, e.names(id))
	chunks, files := e.count()
	require.Zero(t, chunks, "the stale attempt's staged data is discarded")
	require.Zero(t, files)

	// A token that never held the lease stages nothing either.
	id2 := e.create(1)[0]
	t2 := e.claim(id2)
	stale := *t2
	stale.Lease.Token = taskstate.NewToken()
	_, err = e.stage(&stale, "x", strings.NewReader("x"), taskstate.ArtifactLimits{})
	require.ErrorIs(t, err, taskstate.ErrLeaseLost)
	require.ErrorIs(t, e.m.PromoteArtifacts(e.ctx, &stale), taskstate.ErrLeaseLost)
	// DiscardStaged drops one attempt's staged artifacts.
	e.mustStage(t2, "y", data(10, 1))
	require.NoError(t, e.m.DiscardStaged(e.ctx, t2))
	chunks, files = e.count()
	require.Zero(t, chunks)
	require.Zero(t, files)
}

// failingAfter calls fail once n bytes have been read.
type failingAfter struct {
	r    io.Reader
	n    int64
	read int64
	fail func()
	once sync.Once
}

func (f *failingAfter) Read(p []byte) (int, error) {
	if f.read >= f.n {
		f.once.Do(f.fail)
	}
	k, err := f.r.Read(p)
	f.read += int64(k)
	return k, err
}

func leaseLostMidUpload(e *env) {
	t := e.t
	id := e.create(1)[0]
	task := e.claim(id)
	size := max(4*mib, 2*e.h.FenceEvery+3*mib)
	body := &failingAfter{r: bytes.NewReader(data(int(size), 4)), n: 3 * mib, fail: func() {
		require.NoError(t, e.m.Fail(e.ctx, task, errors.New("lease lost")))
	}}
	_, err := e.stage(task, "big", body, taskstate.ArtifactLimits{})
	require.ErrorIs(t, err, taskstate.ErrLeaseLost)
	require.Less(t, body.read, size, "the upload stopped before the end of the body")
	chunks, files := e.count()
	require.Zero(t, chunks, "an attempt whose lease is lost mid-upload leaves no artifact")
	require.Zero(t, files)
}

func retryReplaces(e *env) {
	t := e.t
	id := e.create(1)[0]
	first := e.claim(id)
	e.mustStage(first, "pred.csv", data(mib+5, 1))
	e.mustStage(first, "only-first", data(10, 1))
	require.NoError(t, e.m.PromoteArtifacts(e.ctx, first))
	// The first attempt fails after its promote (its result never
	// committed) and is retried.
	_, err := e.m.Return(e.ctx, first, errors.New("crashed after promote"))
	require.NoError(t, err)
	second := e.claim(id)
	require.Equal(t, 2, second.Attempts)
	want := data(2*mib+7, 2)
	e.mustStage(second, "pred.csv", want)
	// The first attempt, its lease long gone, tries again: refused.
	require.ErrorIs(t, e.m.PromoteArtifacts(e.ctx, first), taskstate.ErrLeaseLost)
	require.NoError(t, e.m.PromoteArtifacts(e.ctx, second))
	require.NoError(t, e.m.Commit(e.ctx, second, "ok", ""))
	require.Equal(t, []string{"pred.csv"}, e.names(id), "never a mix of two attempts")
	got, a := e.read(id, "pred.csv")
	require.Equal(t, want, got)
	require.Equal(t, 2, a.Attempt)
	chunks, files := e.count()
	require.Equal(t, e.c(2*mib+7), chunks)
	require.Equal(t, int64(1), files)
}

func limits(e *env) {
	t := e.t
	id := e.create(1)[0]
	task := e.claim(id)
	_, err := e.stage(task, "huge", bytes.NewReader(data(3*mib, 1)), taskstate.ArtifactLimits{MaxSize: 2*mib + 100})
	require.ErrorIs(t, err, taskstate.ErrArtifactTooLarge)
	chunks, files := e.count()
	require.Zero(t, chunks, "a partial artifact over the limit leaves nothing")
	require.Zero(t, files)

	lim := taskstate.ArtifactLimits{MaxTotal: 2*mib + 10}
	_, err = e.stage(task, "a", bytes.NewReader(data(mib+5, 1)), lim)
	require.NoError(t, err)
	_, err = e.stage(task, "b", bytes.NewReader(data(mib+6, 2)), lim)
	require.ErrorIs(t, err, taskstate.ErrArtifactTooLarge)
	// The same name again counts once.
	_, err = e.stage(task, "a", bytes.NewReader(data(2*mib, 3)), lim)
	require.NoError(t, err)
	chunks, files = e.count()
	require.Equal(t, e.c(2*mib), chunks)
	require.Equal(t, int64(1), files)
	// Defaults apply to zero limits; -1 is no limit.
	r := taskstate.ArtifactLimits{MaxTotal: -1}.Resolved()
	require.Equal(t, taskstate.DefaultMaxArtifactSize, r.MaxSize)
	require.Greater(t, r.MaxTotal, int64(1<<62))
}

// withArtifacts makes a task with committed artifacts and a staged one of
// a later attempt is not possible here; so: committed (three chunks).
func (e *env) withArtifacts() string {
	id := e.create(1)[0]
	task := e.claim(id)
	e.mustStage(task, "p", data(2*mib+1, 5))
	require.NoError(e.t, e.m.PromoteArtifacts(e.ctx, task))
	require.NoError(e.t, e.m.Commit(e.ctx, task, "ok", ""))
	return id
}

func removeAndReset(e *env) {
	t := e.t
	a, b, c := e.withArtifacts(), e.withArtifacts(), e.withArtifacts()
	// A running task with a staged artifact.
	d := e.create(1)[0]
	dt := e.claim(d)
	e.mustStage(dt, "s", data(mib+1, 6))
	chunks, files := e.count()
	require.Equal(t, 3*e.c(2*mib+1)+e.c(mib+1), chunks)
	require.Equal(t, int64(4), files)

	n, err := e.m.Remove(e.ctx, taskstate.ByIDs(a), false)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	chunks, files = e.count()
	require.Equal(t, 2*e.c(2*mib+1)+e.c(mib+1), chunks)
	require.Equal(t, int64(3), files)

	n, err = e.m.ResetStatus(e.ctx, taskstate.ByIDs(b, d), taskstate.StatusWaiting)
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
	require.Empty(t, e.names(b))
	chunks, files = e.count()
	require.Equal(t, e.c(2*mib+1), chunks)
	require.Equal(t, int64(1), files)

	require.NoError(t, e.m.DeleteArtifacts(e.ctx, c))
	require.Empty(t, e.names(c))
	chunks, files = e.count()
	require.Zero(t, chunks, "nothing is orphaned")
	require.Zero(t, files)

	// Removing the whole pool leaves nothing either.
	e.withArtifacts()
	_, err = e.m.Remove(e.ctx, taskstate.Query{}, true)
	require.NoError(t, err)
	chunks, files = e.count()
	require.Zero(t, chunks)
	require.Zero(t, files)
}

func cleanupStaged(e *env) {
	t := e.t
	kept := e.withArtifacts()
	// An attempt that failed without discarding its staged artifacts.
	id := e.create(1)[0]
	dead := e.claim(id)
	e.mustStage(dead, "x", data(mib+1, 7))
	require.NoError(t, e.m.Fail(e.ctx, dead, errors.New("worker died")))
	// A running attempt's staged artifact stays.
	live := e.claim(e.create(1)[0])
	e.mustStage(live, "y", data(10, 8))

	n, err := e.m.CleanupStaged(e.ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	chunks, files := e.count()
	require.Equal(t, e.c(2*mib+1)+e.c(10), chunks)
	require.Equal(t, int64(2), files)
	require.Equal(t, []string{"p"}, e.names(kept))
	require.NoError(t, e.m.PromoteArtifacts(e.ctx, live))
	require.Equal(t, []string{"y"}, e.names(live.ID))
}

// Reader is a deterministic stream of n bytes that holds no more than its
// small pattern in memory.
type Reader struct {
	N, off int64
}

var pattern = func() []byte {
	b := make([]byte, 64<<10+17) // not a multiple of any chunk size
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	return b
}()

func (r *Reader) Read(p []byte) (int, error) {
	if r.off >= r.N {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.N-r.off)]
	k := 0
	for k < len(p) {
		k += copy(p[k:], pattern[(r.off+int64(k))%int64(len(pattern)):])
	}
	r.off += int64(k)
	return k, nil
}

// Expected returns the SHA-256 of a Reader of n bytes.
func Expected(n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, &Reader{N: n})
	return hex.EncodeToString(h.Sum(nil))
}

// Peak holds the largest samples a sampler saw.
type Peak struct {
	Heap uint64 // runtime.MemStats.HeapInuse
	RSS  uint64 // VmRSS from /proc/self/status; 0 where unavailable
}

// SamplePeak samples the heap in use and the resident set every few
// milliseconds until stop is called, and returns the peaks it saw. (The
// RSS counts memory outside the Go heap too, such as SQLite's page cache
// in modernc.org/sqlite's own allocator.)
func SamplePeak() (stop func() Peak) {
	var (
		peak Peak
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak.Heap = max(peak.Heap, ms.HeapInuse)
		peak.RSS = max(peak.RSS, rss())
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				sample()
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	return func() Peak {
		close(done)
		wg.Wait()
		return peak
	}
}

// rss returns the process's resident set in bytes, or 0.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// BigSize is the size of the large round trip.
const BigSize = 200 << 20

// MaxHeap is the most heap the large round trip may use, and MaxRSS the
// largest resident set of the whole test process meanwhile.
const (
	MaxHeap = 64 << 20
	MaxRSS  = 150 << 20
)

// RunBig stores and reads back a BigSize artifact and checks that the heap
// in use stays under MaxHeap and the RSS under MaxRSS during both (under
// the race detector: a 32 MiB artifact, heap only). Skipped under -short.
func RunBig(t *testing.T, h Harness) {
	if testing.Short() {
		t.Skip("the 200 MB round trip is skipped under -short")
	}
	size, checkRSS := int64(BigSize), !raceEnabled
	if raceEnabled {
		size = 32 << 20
	}
	e := newEnv(t, h)
	id := e.create(1)[0]
	task := e.claim(id)
	want := Expected(size)
	runtime.GC()
	stop := SamplePeak()
	start := time.Now()
	a, err := e.stage(task, "big.bin", &Reader{N: size}, taskstate.ArtifactLimits{})
	peak := stop()
	require.NoError(t, err)
	t.Logf("stored %d MiB in %v (%.0f MB/s), peak heap in use %.1f MiB, peak RSS %.1f MiB", size>>20, time.Since(start).Round(time.Millisecond),
		float64(size)/1e6/time.Since(start).Seconds(), float64(peak.Heap)/(1<<20), float64(peak.RSS)/(1<<20))
	require.Equal(t, want, a.SHA256)
	require.Less(t, peak.Heap, uint64(MaxHeap), "storing must stream")
	if checkRSS {
		require.Less(t, peak.RSS, uint64(MaxRSS), "storing must stream")
	}
	require.NoError(t, e.m.PromoteArtifacts(e.ctx, task))
	require.NoError(t, e.m.Commit(e.ctx, task, "ok", ""))

	runtime.GC()
	stop = SamplePeak()
	start = time.Now()
	rc, meta, err := e.m.OpenArtifact(e.ctx, id, "big.bin")
	require.NoError(t, err)
	hs := sha256.New()
	n, err := io.Copy(hs, rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	peak = stop()
	t.Logf("read %d MiB in %v (%.0f MB/s), peak heap in use %.1f MiB, peak RSS %.1f MiB", size>>20, time.Since(start).Round(time.Millisecond),
		float64(size)/1e6/time.Since(start).Seconds(), float64(peak.Heap)/(1<<20), float64(peak.RSS)/(1<<20))
	require.Equal(t, size, n)
	require.Equal(t, want, hex.EncodeToString(hs.Sum(nil)))
	require.Equal(t, want, meta.SHA256)
	require.Less(t, peak.Heap, uint64(MaxHeap), "reading must stream")
	if checkRSS {
		require.Less(t, peak.RSS, uint64(MaxRSS), "reading must stream")
	}

	_, err = e.m.Remove(e.ctx, taskstate.ByIDs(id), false)
	require.NoError(t, err)
	chunks, files := e.count()
	require.Zero(t, chunks)
	require.Zero(t, files)
}

// Bench runs the store and fetch benchmarks of size-byte artifacts.
func Bench(b *testing.B, newStore func(b *testing.B) taskstate.Store, size int64, fetch bool) {
	s := newStore(b)
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: pool})
	require.NoError(b, err)
	ctx := b.Context()
	res, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "noop", Def: map[string]any{"b": b.Name()}}}, taskstate.CreateOptions{})
	require.NoError(b, err)
	tasks, err := m.Claim(ctx, taskstate.ClaimOptions{Owner: "b", Limit: 1, Lease: time.Hour})
	require.NoError(b, err)
	require.Len(b, tasks, 1)
	task := tasks[0]
	b.SetBytes(size)
	if !fetch {
		for i := 0; b.Loop(); i++ {
			if _, err := m.StageArtifact(ctx, task, fmt.Sprintf("a%d", i), &Reader{N: size}, taskstate.ArtifactLimits{MaxTotal: -1}); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	_, err = m.StageArtifact(ctx, task, "a", &Reader{N: size}, taskstate.ArtifactLimits{})
	require.NoError(b, err)
	require.NoError(b, m.PromoteArtifacts(ctx, task))
	id := res.IDs[0]
	for b.Loop() {
		if _, err := m.CopyArtifact(ctx, id, "a", io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
