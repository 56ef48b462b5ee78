package taskstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"regexp"
	"runtime"
	"time"

	"github.com/sourcegraph/conc"
	"go.uber.org/zap"
)

// DefaultMaxAttempts is the attempt budget of a task created without one.
const DefaultMaxAttempts = 3

// UnlimitedAttempts in TaskSpec.MaxAttempts stores max_attempts 0: the task
// is retried for ever, as in Qlib.
const UnlimitedAttempts = -1

// Config configures a Manager. Only Store and Pool are required.
type Config struct {
	// Store is the backend. Required.
	Store Store
	// Pool is the task pool (Qlib's task_pool): letters, digits, '_' and
	// '-', at most 64 characters. Required.
	Pool string
	// Notifier receives a hint after each successful write. Default: none.
	Notifier Notifier
	// Codec encodes defs and results. Default: gob with a 15 MiB cap.
	Codec Codec
	// Logger logs admin operations and dropped writes. Default: zap.NewNop().
	Logger *zap.Logger
	// Now is the clock of created and updated times. Default: time.Now.
	// Leases, expiries and retry delays are decided by the store's clock,
	// never the caller's; a Now set here stands in for the store's clock
	// too (tests drive leases with a fake one).
	Now func() time.Time
	// Backoff is the delay before a returned task may be claimed again,
	// given the attempt that failed (1 for the first). Default:
	// DefaultBackoff.
	Backoff func(attempt int) time.Duration
	// DefaultMaxAttempts applies to tasks created with MaxAttempts 0.
	// Default: DefaultMaxAttempts (3).
	DefaultMaxAttempts int
	// Observe, when set, is called after every store call with its name,
	// duration and error (for the store latency metric).
	Observe func(op string, d time.Duration, err error)
	// RedactError, when set, rewrites every last_error before it is
	// stored, to hide credentials a handler's error quoted.
	RedactError func(string) string
}

// Manager is the Go TaskManager: every Qlib operation on one pool, with
// leases, fencing, retries and event hints. It is safe for concurrent use.
type Manager struct {
	cfg   Config
	store Store
	pool  string
	codec Codec
	log   *zap.Logger
	// storeClock is Config.Now as given (nil: the store's clock).
	storeClock func() time.Time
	// retries are the times tasks this Manager returned with a backoff
	// become claimable.
	retries retryHints
}

var poolRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidatePool returns an error wrapping ErrInvalidPool unless name is a
// usable pool name.
func ValidatePool(name string) error {
	if !poolRE.MatchString(name) {
		return fmt.Errorf("%w: %q (use 1-64 letters, digits, '_' or '-')", ErrInvalidPool, name)
	}
	return nil
}

// NewManager returns a Manager for cfg.Pool on cfg.Store.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("taskstate: Config.Store is required")
	}
	if err := ValidatePool(cfg.Pool); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	storeClock := cfg.Now
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.DefaultMaxAttempts == 0 {
		cfg.DefaultMaxAttempts = DefaultMaxAttempts
	}
	return &Manager{cfg: cfg, store: cfg.Store, pool: cfg.Pool, codec: cfg.Codec.cached(), log: cfg.Logger, storeClock: storeClock}, nil
}

// Pool returns the pool name.
func (m *Manager) Pool() string { return m.pool }

// Codec returns the payload codec.
func (m *Manager) Codec() Codec { return m.codec }

// DefaultBackoff is exponential with jitter: 1 s, 2 s, 4 s … capped at
// 5 minutes, each ±20 %.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := time.Second << min(attempt-1, 9)
	d = min(d, 5*time.Minute)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (m *Manager) observe(op string, start time.Time, err error) {
	if m.cfg.Observe != nil {
		m.cfg.Observe(op, time.Since(start), err)
	}
}

func (m *Manager) notify(ctx context.Context, ev Event, n int) {
	if m.cfg.Notifier != nil && n > 0 {
		m.cfg.Notifier.Notify(context.WithoutCancel(ctx), m.pool, ev, n)
	}
}

// TaskSpec is a task to create.
type TaskSpec struct {
	// Kind is the handler name. Required.
	Kind string
	// Def is the task definition: any gob-encodable value that also has a
	// JSON form (the filter). Required.
	Def any
	// Priority orders claims, higher first. Default 0.
	Priority int
	// MaxAttempts caps the claims of the task: 0 takes the Manager's
	// default (3), UnlimitedAttempts retries for ever.
	MaxAttempts int
}

// CreateOptions modify Create.
type CreateOptions struct {
	// DryRun writes nothing and reports which tasks would be new.
	DryRun bool
}

// CreateResult is the outcome of Create.
type CreateResult struct {
	// IDs holds one id per input spec, in input order: the new task's id,
	// or the existing task's id for a duplicate. Under DryRun new tasks
	// have an empty id.
	IDs []string
	// New reports, per input spec, whether this call created the task
	// (under DryRun: whether it would). A repeat of an earlier spec in the
	// same call is not new.
	New []bool
	// NewCount is the number of true values in New.
	NewCount int
}

// Create adds tasks to the pool, idempotently: a spec whose kind and
// canonical def match an existing task returns that task (whatever its
// status, as in Qlib) and inserts nothing. It is one batch insert and safe
// with concurrent creators. It is Prepare followed by CreatePrepared.
func (m *Manager) Create(ctx context.Context, specs []TaskSpec, opts CreateOptions) (CreateResult, error) {
	b, err := m.Prepare(specs)
	if err != nil {
		return CreateResult{IDs: make([]string, len(specs)), New: make([]bool, len(specs))}, err
	}
	return m.CreatePrepared(ctx, b, opts)
}

// PreparedBatch is a batch of specs validated, encoded and keyed by
// Prepare, ready for CreatePrepared on the Manager that prepared it.
type PreparedBatch struct {
	n    int
	slot []int     // per spec, its task in news
	news []NewTask // the batch without repeats, in first-seen order
}

// Len is the number of specs in the batch.
func (b *PreparedBatch) Len() int { return b.n }

// Prepare does the part of Create that needs no store: it validates every
// spec and encodes its def, filter and dedup key (on every CPU for a large
// batch), and folds repeats within the batch. A caller that reads its specs
// as it goes prepares the next batch while the store inserts this one. An
// invalid spec gives a *SpecError naming the first one in input order.
func (m *Manager) Prepare(specs []TaskSpec) (*PreparedBatch, error) {
	prepared, err := m.prepareSpecs(specs)
	if err != nil {
		return nil, err
	}
	b := &PreparedBatch{n: len(specs), slot: make([]int, len(specs)), news: prepared[:0]}
	firstByKey := make(map[string]int, len(specs))
	for i, p := range prepared { // news overwrites prepared behind i
		if j, ok := firstByKey[p.Key]; ok {
			b.slot[i] = j
			continue
		}
		firstByKey[p.Key] = len(b.news)
		b.slot[i] = len(b.news)
		b.news = append(b.news, p)
	}
	return b, nil
}

// CreatePrepared creates a batch from Prepare, as Create does.
func (m *Manager) CreatePrepared(ctx context.Context, b *PreparedBatch, opts CreateOptions) (CreateResult, error) {
	res := CreateResult{IDs: make([]string, b.n), New: make([]bool, b.n)}
	if b.n == 0 {
		return res, nil
	}
	start := time.Now()
	out, err := m.store.CreateTasks(ctx, CreateTasksParams{Pool: m.pool, Tasks: b.news, Now: m.cfg.Now(), DryRun: opts.DryRun})
	m.observe("create", start, err)
	if err != nil {
		return res, err
	}
	seen := make([]bool, len(b.news))
	for i, k := range b.slot {
		r := out[k]
		res.IDs[i] = r.ID
		if r.Created && !seen[k] {
			res.New[i] = true
			res.NewCount++
		}
		seen[k] = true
	}
	if !opts.DryRun {
		var ids, kinds []string
		for i, isNew := range res.New {
			if isNew {
				ids, kinds = append(ids, res.IDs[i]), append(kinds, b.news[b.slot[i]].Kind)
			}
		}
		m.notifyTasks(ctx, EventCreated, ids, func(i int) string { return kinds[i] })
		m.log.Debug("created tasks", zap.String("pool", m.pool), zap.Int("total", b.n), zap.Int("new", res.NewCount))
	}
	return res, nil
}

// prepareParallel is the batch size from which Create prepares its specs on
// every CPU: encoding, rendering and hashing cost about as much as the
// store's insert, and would otherwise run on one core while the writer
// waits.
const prepareParallel = 256

// prepareSpecs validates and prepares every spec: its filter document, the
// filter's canonical JSON (marshalled once, for the key and the store), the
// dedup key, the encoded def and the attempt budget. The first invalid
// spec, in input order, is the error.
func (m *Manager) prepareSpecs(specs []TaskSpec) ([]NewTask, error) {
	out := make([]NewTask, len(specs))
	errs := make([]error, len(specs))
	prep := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i], errs[i] = m.prepareSpec(i, specs[i])
		}
	}
	if workers := min(runtime.GOMAXPROCS(0), len(specs)/prepareParallel); workers > 1 {
		var wg conc.WaitGroup
		per := (len(specs) + workers - 1) / workers
		for lo := 0; lo < len(specs); lo += per {
			wg.Go(func() { prep(lo, min(lo+per, len(specs))) })
		}
		wg.Wait()
	} else {
		prep(0, len(specs))
	}
	for i, err := range errs {
		if err != nil {
			return nil, &SpecError{Index: i, Err: err}
		}
	}
	return out, nil
}

func (m *Manager) prepareSpec(i int, s TaskSpec) (NewTask, error) {
	if s.Kind == "" {
		return NewTask{}, fmt.Errorf("%w: task %d: kind is required", ErrInvalidTask, i)
	}
	if s.Def == nil {
		return NewTask{}, fmt.Errorf("%w: task %d: def is required", ErrInvalidTask, i)
	}
	// Before anything else reads it: the filter's JSON would turn invalid
	// UTF-8 into U+FFFD and merge defs that differ only there.
	if err := checkPayload(s.Def, "def", m.codec.MaxDepth, true, m.codec.shapes); err != nil {
		return NewTask{}, fmt.Errorf("%w: task %d: %w", ErrInvalidTask, i, err)
	}
	filter, err := ToFilter(s.Def)
	if err != nil {
		return NewTask{}, fmt.Errorf("task %d: %w", i, err)
	}
	filterJSON, err := json.Marshal(filter) // maps marshal with sorted keys: canonical
	if err != nil {
		return NewTask{}, fmt.Errorf("%w: task %d: filter: %v", ErrInvalidTask, i, err)
	}
	def, err := m.codec.encodeChecked(s.Def)
	if err != nil {
		return NewTask{}, fmt.Errorf("task %d: def: %w", i, err)
	}
	maxAttempts := s.MaxAttempts
	switch {
	case maxAttempts == 0:
		maxAttempts = m.cfg.DefaultMaxAttempts
	case maxAttempts < 0:
		maxAttempts = 0
	}
	return NewTask{ID: NewID(), Kind: s.Kind, Key: keyOf(s.Kind, filterJSON), Def: def, Filter: filter, FilterJSON: filterJSON,
		Priority: s.Priority, MaxAttempts: maxAttempts}, nil
}

// ClaimOptions modify Claim.
type ClaimOptions struct {
	// From is the status to claim from: StatusWaiting (default) or
	// StatusPartDone (phase two).
	From Status
	// Kinds restricts the claim to these kinds. Default: any kind.
	Kinds []string
	// Query restricts the claim further. Default: any task.
	Query Query
	// Owner names the claimer in the lease. Default: hostname:pid.
	Owner string
	// Lease is how long the claim holds without a heartbeat, from the
	// store's now. Default 30 s; else within [MinLease, MaxLease].
	Lease time.Duration
	// Limit is the most tasks to claim in one round trip. Default 1.
	Limit int
	// Woken says a wake-up announced work for this claim
	// (ClaimParams.Woken). Default false: a poll.
	Woken bool
}

// DefaultLease is the lease of a claim made without one.
const DefaultLease = 30 * time.Second

// DefaultOwner is hostname:pid.
func DefaultOwner() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", h, os.Getpid())
}

// Claim atomically takes up to opts.Limit claimable tasks, highest priority
// first, then creation order. The returned tasks carry their payloads and
// lease; every later write about them must present it (Task.Lease.Token).
func (m *Manager) Claim(ctx context.Context, opts ClaimOptions) ([]*Task, error) {
	p, err := m.claimParams(opts)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	tasks, err := m.store.Claim(ctx, p)
	m.observe("claim", start, err)
	return tasks, err
}

// claimParams validates opts, fills in their defaults and returns the
// store's ClaimParams, with a new lease token.
func (m *Manager) claimParams(opts ClaimOptions) (ClaimParams, error) {
	if opts.From == "" {
		opts.From = StatusWaiting
	}
	if !opts.From.Claimable() {
		return ClaimParams{}, fmt.Errorf("%w: cannot claim from %q (want waiting or part_done)", ErrInvalidStatus, opts.From)
	}
	if err := opts.Query.Validate(); err != nil {
		return ClaimParams{}, err
	}
	if opts.Owner == "" {
		opts.Owner = DefaultOwner()
	}
	if opts.Lease == 0 {
		opts.Lease = DefaultLease
	}
	if err := CheckLease("lease", opts.Lease); err != nil {
		return ClaimParams{}, err
	}
	if opts.Limit <= 0 {
		opts.Limit = 1
	}
	return ClaimParams{
		Pool: m.pool, From: opts.From, Kinds: opts.Kinds, Query: opts.Query,
		Owner: opts.Owner, Token: NewToken(), Now: m.storeNow(), Lease: opts.Lease, Limit: opts.Limit,
		Woken: opts.Woken,
	}, nil
}

// Commit stores res as the task's result and moves it to `to` (StatusDone
// or StatusPartDone; empty means StatusDone, as in Qlib). It is fenced: if
// the caller's lease is gone it returns ErrLeaseLost and stores nothing. A
// result that cannot be encoded or is over the cap fails the task with that
// reason and returns the encoding error (ErrPayloadTooLarge for size).
func (m *Manager) Commit(ctx context.Context, t *Task, res any, to Status) error {
	return m.CommitMany(ctx, []CommitItem{{Task: t, Res: res, To: to}})[0]
}

// CommitItem is one result for CommitMany.
type CommitItem struct {
	Task *Task
	// Res is the handler's result, encoded with the Manager's codec unless
	// EncodedRes is set.
	Res any
	// EncodedRes, when not nil, is the result already encoded with the
	// Manager's codec (Codec.Encode); it is stored as it is (after the size
	// cap) and Res is ignored. A worker encodes results this way in its
	// handlers' goroutines, in parallel, rather than in the one goroutine
	// that commits them.
	EncodedRes []byte
	// To is StatusDone (default) or StatusPartDone.
	To Status
}

func (m *Manager) encodeResult(it CommitItem) ([]byte, error) {
	if it.EncodedRes != nil {
		return m.codec.capped(it.EncodedRes)
	}
	return m.codec.Encode(it.Res)
}

// CommitMany commits several results in one store round trip (the batch
// completer of the worker). It returns one error per item: nil, an error
// wrapping ErrLeaseLost, or the encoding error of a result that failed its
// task instead.
func (m *Manager) CommitMany(ctx context.Context, items []CommitItem) []error {
	errs, _, _ := m.commitMany(ctx, items, nil)
	return errs
}

// CommitManyAndClaim is CommitMany followed by Claim(claim), in one store
// round trip when the Store is a FinishClaimer: a worker's completer
// commits its results and claims tasks for the slots they freed. errs is
// CommitMany's; claimErr is the claim's. The commits do not depend on the
// claim: when the one round trip fails, the results are committed alone
// and its error is the claim's.
func (m *Manager) CommitManyAndClaim(ctx context.Context, items []CommitItem, claim ClaimOptions) (errs []error, claimed []*Task, claimErr error) {
	return m.commitMany(ctx, items, &claim)
}

// commitMany is CommitMany, and CommitManyAndClaim when claim is set.
func (m *Manager) commitMany(ctx context.Context, items []CommitItem, claim *ClaimOptions) (errs []error, claimed []*Task, claimErr error) {
	errs = make([]error, len(items))
	trs := make([]Transition, 0, len(items))
	idx := make([]int, 0, len(items))
	for i, it := range items {
		to := it.To
		if to == "" {
			to = StatusDone
		}
		if to != StatusDone && to != StatusPartDone {
			errs[i] = fmt.Errorf("%w: commit to %q (want done or part_done)", ErrInvalidStatus, to)
			continue
		}
		b, err := m.encodeResult(it)
		if err != nil {
			errs[i] = &resultFailedError{err}
			trs = append(trs, Transition{ID: it.Task.ID, Seq: it.Task.Seq, Token: it.Task.Lease.Token, To: StatusFailed, SetError: true, LastError: "result: " + err.Error()})
		} else {
			trs = append(trs, Transition{ID: it.Task.ID, Seq: it.Task.Seq, Token: it.Task.Lease.Token, To: to, SetRes: true, Res: b})
		}
		idx = append(idx, i)
	}
	fc, combined := m.store.(FinishClaimer)
	combined = combined && claim != nil && len(trs) > 0
	var applied []bool
	var err error
	switch {
	case combined:
		applied, claimed, claimErr = m.finishAndClaim(ctx, fc, trs, *claim)
		if claimErr != nil {
			applied, err = m.finish(ctx, "commit", trs)
		}
	case len(trs) > 0:
		applied, err = m.finish(ctx, "commit", trs)
	}
	if claim != nil && !combined {
		claimed, claimErr = m.Claim(ctx, *claim)
	}
	if len(trs) == 0 {
		return errs, claimed, claimErr
	}
	var committed, failedIDs []string
	for k, i := range idx {
		switch {
		case err != nil:
			errs[i] = err
		case !applied[k]:
			errs[i] = fmt.Errorf("%w: task %s", ErrLeaseLost, items[i].Task.ID)
		case errs[i] == nil:
			committed = append(committed, items[i].Task.ID)
		default:
			failedIDs = append(failedIDs, items[i].Task.ID)
		}
	}
	if err == nil {
		m.notifyTasks(ctx, EventCommitted, committed, nil)
		m.notifyTasks(ctx, EventFailed, failedIDs, nil)
	}
	return errs, claimed, claimErr
}

func (m *Manager) finish(ctx context.Context, op string, items []Transition) ([]bool, error) {
	m.redact(items)
	start := time.Now()
	applied, err := m.store.Finish(ctx, FinishParams{Pool: m.pool, Now: m.storeNow(), Items: items})
	m.observe(op, start, err)
	return applied, err
}

// finishAndClaim is finish("commit") and Claim in one FinishAndClaim.
func (m *Manager) finishAndClaim(ctx context.Context, fc FinishClaimer, items []Transition, opts ClaimOptions) ([]bool, []*Task, error) {
	cp, err := m.claimParams(opts)
	if err != nil {
		return nil, nil, err
	}
	m.redact(items)
	start := time.Now()
	res, err := fc.FinishAndClaim(ctx, FinishAndClaimParams{Finish: FinishParams{Pool: m.pool, Now: cp.Now, Items: items}, Claim: cp})
	m.observe("commit_claim", start, err)
	return res.Applied, res.Claimed, err
}

// finishClaimer reports whether the store commits and claims in one call
// (FinishClaimer).
func (m *Manager) finishClaimer() bool {
	_, ok := m.store.(FinishClaimer)
	return ok
}

// shared reports whether other processes write to the store (Shared).
func (m *Manager) shared() bool {
	s, ok := m.store.(Shared)
	return ok && s.Shared()
}

// redact rewrites the last_error of items with Config.RedactError.
func (m *Manager) redact(items []Transition) {
	if m.cfg.RedactError == nil {
		return
	}
	for i := range items {
		if items[i].LastError != "" {
			items[i].LastError = m.cfg.RedactError(items[i].LastError)
		}
	}
}

func (m *Manager) finishOne(ctx context.Context, op string, t *Task, tr Transition) error {
	applied, err := m.finish(ctx, op, []Transition{tr})
	if err != nil {
		return err
	}
	if !applied[0] {
		return fmt.Errorf("%w: task %s", ErrLeaseLost, t.ID)
	}
	ev := EventAvailable
	if tr.To == StatusFailed {
		ev = EventFailed
	}
	if tr.Delay > 0 {
		// After the write: the store's run_after is its now + Delay, and
		// the store's now was taken before this returned.
		m.retries.add(time.Now().Add(tr.Delay + retryHintMargin))
	}
	m.notifyChange(ctx, ev, []string{t.ID}, func(int) string { return t.Kind }, tr.Delay > 0)
	return nil
}

// Return gives a claimed task back after a failed attempt (Qlib's
// return_task, fenced). cause is recorded as last_error. The task goes back
// to the status it was claimed from after a backoff, or to failed when its
// attempts are spent. It reports the status the task went to.
func (m *Manager) Return(ctx context.Context, t *Task, cause error) (Status, error) {
	msg := "returned"
	if cause != nil {
		msg = cause.Error()
	}
	to := t.ClaimedFrom
	if !to.Claimable() {
		to = StatusWaiting
	}
	tr := Transition{ID: t.ID, Seq: t.Seq, Token: t.Lease.Token, To: to, SetError: true, LastError: msg}
	if t.MaxAttempts > 0 && t.Attempts >= t.MaxAttempts {
		tr.To = StatusFailed
		tr.LastError = fmt.Sprintf("attempt %d of %d: %s", t.Attempts, t.MaxAttempts, msg)
	} else {
		tr.Delay = min(max(m.cfg.Backoff(t.Attempts), 0), MaxLease)
	}
	return tr.To, m.finishOne(ctx, "return", t, tr)
}

// Release gives a claimed task back at once without counting the attempt:
// the worker is shutting down, the task did not fail.
func (m *Manager) Release(ctx context.Context, t *Task) error {
	to := t.ClaimedFrom
	if !to.Claimable() {
		to = StatusWaiting
	}
	return m.finishOne(ctx, "release", t, Transition{ID: t.ID, Seq: t.Seq, Token: t.Lease.Token, To: to, UndoAttempt: true})
}

// Fail moves a claimed task to failed at once, recording cause: for errors
// no retry can mend, such as a payload that does not decode.
func (m *Manager) Fail(ctx context.Context, t *Task, cause error) error {
	msg := "failed"
	if cause != nil {
		msg = cancelMarkGuard(cause.Error())
	}
	return m.finishOne(ctx, "fail", t, Transition{ID: t.ID, Seq: t.Seq, Token: t.Lease.Token, To: StatusFailed, SetError: true, LastError: msg})
}

// Heartbeat extends the leases of the given claims to the store's now +
// lease (0: DefaultLease; else within [MinLease, MaxLease]) in one write
// and returns the ids whose lease was lost.
func (m *Manager) Heartbeat(ctx context.Context, refs []LeaseRef, lease time.Duration) ([]string, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	if lease == 0 {
		lease = DefaultLease
	}
	if err := CheckLease("lease", lease); err != nil {
		return nil, err
	}
	start := time.Now()
	lost, err := m.store.Heartbeat(ctx, HeartbeatParams{Pool: m.pool, Leases: refs, Lease: lease, Now: m.storeNow()})
	m.observe("heartbeat", start, err)
	return lost, err
}

// ReapResult counts what ReapExpired did.
type ReapResult struct {
	Requeued int // back to waiting or part_done
	Failed   int // attempts spent
	Lost     int // changed by someone else between the read and the write
}

// ReapExpired takes back running tasks whose lease ended more than grace
// (within [0, MaxLease]) ago by the store's clock (a crashed or frozen
// worker). Each is fenced on the token it was read
// with, so a task committed between the read and the write is never moved
// back. A task with attempts left returns to the status it was claimed
// from; one without goes to failed.
func (m *Manager) ReapExpired(ctx context.Context, grace time.Duration) (ReapResult, error) {
	var rr ReapResult
	start := time.Now()
	expired, err := m.store.ListExpired(ctx, ListExpiredParams{Pool: m.pool, Grace: grace, Now: m.storeNow(), Limit: 1000})
	m.observe("list_expired", start, err)
	if err != nil || len(expired) == 0 {
		return rr, err
	}
	trs := make([]Transition, len(expired))
	for i, t := range expired {
		to := t.ClaimedFrom
		if !to.Claimable() {
			to = StatusWaiting
		}
		msg := fmt.Sprintf("lease of %s expired at %s", t.Lease.Owner, t.Lease.Until.UTC().Format(time.RFC3339Nano))
		tr := Transition{ID: t.ID, Seq: t.Seq, Token: t.Lease.Token, To: to, SetError: true, LastError: msg, Expired: true, Grace: grace}
		if t.MaxAttempts > 0 && t.Attempts >= t.MaxAttempts {
			tr.To = StatusFailed
			tr.LastError = fmt.Sprintf("attempt %d of %d: %s", t.Attempts, t.MaxAttempts, msg)
		}
		trs[i] = tr
	}
	applied, err := m.finish(ctx, "reap", trs)
	if err != nil {
		return rr, err
	}
	var requeued, failed, requeuedKinds []string
	for i, ok := range applied {
		switch {
		case !ok:
			rr.Lost++
		case trs[i].To == StatusFailed:
			failed = append(failed, trs[i].ID)
		default:
			requeued, requeuedKinds = append(requeued, trs[i].ID), append(requeuedKinds, expired[i].Kind)
		}
	}
	rr.Requeued, rr.Failed = len(requeued), len(failed)
	m.notifyTasks(ctx, EventAvailable, requeued, func(i int) string { return requeuedKinds[i] })
	m.notifyTasks(ctx, EventFailed, failed, nil)
	if rr.Requeued+rr.Failed > 0 {
		m.log.Warn("reaped expired leases", zap.String("pool", m.pool), zap.Int("requeued", rr.Requeued), zap.Int("failed", rr.Failed))
	}
	return rr, nil
}

func (m *Manager) update(ctx context.Context, op string, p UpdateParams) (int64, error) {
	if err := p.Query.Validate(); err != nil {
		return 0, err
	}
	p.Pool, p.Now = m.pool, m.cfg.Now()
	// The kinds are counted before the write, whose query may name the
	// statuses it changes. A retry's count includes the cancelled tasks it
	// keeps: at worst a wake-up that finds nothing.
	var hint kindsHint
	if p.Status.Claimable() {
		hint = m.kindsIn(ctx, p.Query)
	}
	start := time.Now()
	n, err := m.store.Update(ctx, p)
	m.observe(op, start, err)
	if err != nil {
		return 0, err
	}
	if p.Status.Claimable() {
		m.notifyAvailable(ctx, int(n), hint)
	}
	m.log.Info(op, zap.String("pool", m.pool), zap.Int64("matched", n), zap.String("status", string(p.Status)))
	return n, nil
}

// ResetStatus sets the status of every task matching q (Qlib's
// reset_status). Leases are cleared, so a worker still running one of them
// is fenced out. Resetting to running is refused: nothing would ever take
// such a task back.
func (m *Manager) ResetStatus(ctx context.Context, q Query, to Status) (int64, error) {
	if !to.Valid() || to == StatusRunning {
		return 0, fmt.Errorf("%w: cannot reset to %q (want waiting, part_done, done or failed)", ErrInvalidStatus, to)
	}
	return m.update(ctx, "reset_status", UpdateParams{Query: q, Status: to})
}

// ResetWaiting moves tasks back to waiting (Qlib's reset_waiting): the
// running ones unless q names a status itself.
func (m *Manager) ResetWaiting(ctx context.Context, q Query) (int64, error) {
	if !q.Field(FieldStatus) {
		q = q.Where(FieldStatus, OpEq, string(StatusRunning))
	}
	return m.ResetStatus(ctx, q, StatusWaiting)
}

// RetryFailed moves failed tasks matching q back to waiting with a fresh
// attempt budget.
// Cancelled tasks stay failed (see RetryFailedWith).
func (m *Manager) RetryFailed(ctx context.Context, q Query) (int64, error) {
	return m.RetryFailedWith(ctx, q, RetryOptions{})
}

// Prioritize sets the priority of every task matching q (use ByIDs for
// Qlib's prioritize of one task).
func (m *Manager) Prioritize(ctx context.Context, q Query, priority int) (int64, error) {
	return m.update(ctx, "prioritize", UpdateParams{Query: q, Priority: &priority})
}

// Remove deletes every task matching q. An empty q is refused with
// ErrEmptyQuery unless all is set (Qlib's remove() wipes the pool by
// default).
func (m *Manager) Remove(ctx context.Context, q Query, all bool) (int64, error) {
	if q.IsEmpty() && !all {
		return 0, ErrEmptyQuery
	}
	if err := q.Validate(); err != nil {
		return 0, err
	}
	start := time.Now()
	n, err := m.store.Delete(ctx, DeleteParams{Pool: m.pool, Query: q})
	m.observe("remove", start, err)
	if err == nil {
		m.log.Info("remove", zap.String("pool", m.pool), zap.Int64("removed", n))
	}
	return n, err
}

// QueryOptions modify Query.
type QueryOptions struct {
	// Payloads reads def and res too. Default: only the other fields.
	Payloads bool
	// Limit caps the number of tasks. Default: no cap.
	Limit int
	// Desc streams newest first. Default: creation order.
	Desc bool
}

// Query streams the tasks matching q in creation order (newest first with
// opts.Desc). A condition on FieldSeq pages through it by keyset.
func (m *Manager) Query(ctx context.Context, q Query, opts QueryOptions) iter.Seq2[*Task, error] {
	if err := q.Validate(); err != nil {
		return func(yield func(*Task, error) bool) { yield(nil, err) }
	}
	return m.store.Query(ctx, QueryParams{Pool: m.pool, Query: q, Payloads: opts.Payloads, Limit: opts.Limit, Desc: opts.Desc})
}

// Get returns one task with its payloads (Qlib's re_query). An unknown or
// malformed id gives an error wrapping ErrNotFound.
func (m *Manager) Get(ctx context.Context, id string) (*Task, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("%w: %q is not a task id (want 24 hex digits)", ErrNotFound, id)
	}
	start := time.Now()
	t, err := m.store.Get(ctx, GetParams{Pool: m.pool, ID: id, Payloads: true})
	m.observe("get", start, err)
	return t, err
}

// Stat counts the tasks matching q by status (Qlib's task_stat, as an
// aggregation: no payload is read). Every status is present.
func (m *Manager) Stat(ctx context.Context, q Query) (Counts, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	c, err := m.store.Stat(ctx, StatParams{Pool: m.pool, Query: q})
	m.observe("stat", start, err)
	return c, err
}

// ListPools returns the pools of the store (Qlib's TaskManager.list).
func (m *Manager) ListPools(ctx context.Context) ([]string, error) {
	return m.store.ListPools(ctx)
}

// DecodeDef decodes a claimed task's def.
func (m *Manager) DecodeDef(t *Task) (any, error) { return m.codec.Decode(t.Def) }

// DecodeRes decodes a task's result.
func (m *Manager) DecodeRes(t *Task) (any, error) { return m.codec.Decode(t.Res) }

// Param returns what a handler receives for a claimed task, as Qlib's
// run_task does: the def when claimed from waiting, the phase-one result
// when claimed from part_done.
func (m *Manager) Param(t *Task) (any, error) {
	if t.ClaimedFrom == StatusPartDone {
		v, err := m.codec.Decode(t.Res)
		if err != nil {
			return nil, fmt.Errorf("res: %w", err)
		}
		return v, nil
	}
	v, err := m.codec.Decode(t.Def)
	if err != nil {
		return nil, fmt.Errorf("def: %w", err)
	}
	return v, nil
}
