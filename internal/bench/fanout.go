package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// Fanout runs N real worker processes idle on one pool, creates tasks one
// at a time and reports the store operations and CPU per task, from the
// workers' own metrics, for each fleet size.
const Fanout Scenario = "fanout"

// Defaults of FanoutConfig.
const (
	DefaultFanoutTasks       = 200
	DefaultFanoutConcurrency = 2
	DefaultFanoutIdle        = 5 * time.Second
)

// DefaultFanoutWorkers are the fleet sizes of the fanout scenario.
var DefaultFanoutWorkers = []int{4, 32, 128}

// FanoutConfig configures the fanout scenario. It always runs on its own
// SQLite file in a temporary directory and its own NATS server (in this
// process, on a loopback port), shared by the worker processes.
type FanoutConfig struct {
	// Workers are the fleet sizes, run one after the other. Default 4, 32, 128.
	Workers []int
	// Tasks is the number of tasks created, one at a time, per fleet size.
	// Default 200.
	Tasks int
	// Concurrency is each worker's --concurrency. Default 2.
	Concurrency int
	// Idle is how long the idle fleet is measured before the tasks.
	// Default 5 s.
	Idle time.Duration
	// EventPoll is each worker's --event-poll-interval. Default
	// taskstate.DefaultEventPollInterval, the worker's.
	EventPoll time.Duration
	// WorkerBin is the worker binary. Default: "worker" in the directory
	// of this executable, else on PATH.
	WorkerBin string
}

// FanoutResult holds the fanout figures, one row per fleet size.
type FanoutResult struct {
	Tasks        int         `json:"tasks"`
	Concurrency  int         `json:"concurrency"`
	PollInterval Millis      `json:"poll_interval_ms"`
	EventPoll    Millis      `json:"event_poll_interval_ms"`
	IdleSeconds  float64     `json:"idle_seconds"`
	Rows         []FanoutRow `json:"rows"`
}

// FanoutRow is one fleet size. Store operations are counted by the
// workers (taskfleet_store_operation_duration_seconds_count, without
// "stat", which the bench's own scrapes cause); "net"
// figures subtract what the idle fleet did in as much time, which leaves
// what the tasks cost.
type FanoutRow struct {
	Workers int `json:"workers"`
	// Seconds is the length of the task phase.
	Seconds float64 `json:"seconds"`
	// OpsPerTask is every store operation of every worker during the
	// task phase, per task; OpsPerTaskNet without the idle rate.
	OpsPerTask    float64 `json:"store_ops_per_task"`
	OpsPerTaskNet float64 `json:"store_ops_per_task_net"`
	// ByOp is OpsPerTask by operation (claim, commit, heartbeat, ...).
	ByOp map[string]float64 `json:"store_ops_per_task_by_op"`
	// ClaimsPerTask are the claim calls per task, commits that claimed
	// with them (commit_claim) included; EmptyClaimsPerTask those that
	// found nothing. CommitsPerTask are the commit calls per task, alone
	// or with a claim.
	ClaimsPerTask      float64 `json:"claims_per_task"`
	EmptyClaimsPerTask float64 `json:"empty_claims_per_task"`
	CommitsPerTask     float64 `json:"commits_per_task"`
	// CPUPerTaskMs is the CPU of the workers and of this process (which
	// runs NATS and creates the tasks) per task; net without the idle rate.
	CPUPerTaskMs    float64 `json:"cpu_per_task_ms"`
	CPUPerTaskNetMs float64 `json:"cpu_per_task_net_ms"`
	// Done is create → committed as this process sees it, p50 and p99.
	DoneP50 Millis `json:"done_p50_ms"`
	DoneP99 Millis `json:"done_p99_ms"`
	// IdleOpsPerWorkerSec is what one idle worker costs the store, per
	// second, and IdleByOp by operation; IdleCPUPerWorker its CPU in
	// milliseconds per second.
	IdleOpsPerWorkerSec float64            `json:"idle_store_ops_per_worker_sec"`
	IdleByOp            map[string]float64 `json:"idle_store_ops_per_worker_sec_by_op"`
	IdleCPUPerWorker    float64            `json:"idle_cpu_ms_per_worker_sec"`
}

func (c FanoutConfig) withDefaults() (FanoutConfig, error) {
	if c.Tasks < 0 || c.Concurrency < 0 || c.Idle < 0 {
		return c, errors.New("bench: FanoutConfig.Tasks, Concurrency and Idle must not be negative")
	}
	if len(c.Workers) == 0 {
		c.Workers = DefaultFanoutWorkers
	}
	for _, n := range c.Workers {
		if n < 1 || n > 1000 {
			return c, fmt.Errorf("bench: fanout fleet size %d: want 1 to 1000", n)
		}
	}
	if c.Tasks == 0 {
		c.Tasks = DefaultFanoutTasks
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultFanoutConcurrency
	}
	if c.EventPoll == 0 {
		c.EventPoll = taskstate.DefaultEventPollInterval
	}
	if c.Idle == 0 {
		c.Idle = DefaultFanoutIdle
	}
	if c.WorkerBin == "" {
		c.WorkerBin = defaultWorkerBin()
	}
	if _, err := os.Stat(c.WorkerBin); err != nil {
		return c, fmt.Errorf("bench: fanout needs the worker binary: %w (build it with go build -o bin/ ./cmd/... and give --worker-bin)", err)
	}
	return c, nil
}

func defaultWorkerBin() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "worker")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("worker"); err == nil {
		return p
	}
	return "worker"
}

// fanout runs every fleet size of the scenario.
func (b *bench) fanout(ctx context.Context) (*FanoutResult, error) {
	fc, err := b.cfg.Fanout.withDefaults()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "taskfleet-fanout-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	quiet := b.log.WithOptions(zap.IncreaseLevel(zap.WarnLevel))
	srv, err := events.StartEmbedded(events.EmbeddedConfig{Logger: quiet, StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer srv.Shutdown()
	conn, err := events.Connect(ctx, events.Config{URL: srv.ClientURL(), Name: "bench-fanout", Logger: quiet})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer conn.Close()
	path := filepath.Join(dir, "tasks.db")
	st, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	if err != nil {
		return nil, fmt.Errorf("bench: fanout store: %w", err)
	}
	defer st.Close()
	res := &FanoutResult{Tasks: fc.Tasks, Concurrency: fc.Concurrency, PollInterval: Millis(b.cfg.PollInterval), EventPoll: Millis(fc.EventPoll), IdleSeconds: fc.Idle.Seconds()}
	for _, n := range fc.Workers {
		row, err := b.fanoutRun(ctx, fc, conn, st, "sqlite://"+path, srv.ClientURL(), n)
		if err != nil {
			return res, err
		}
		res.Rows = append(res.Rows, *row)
		fmt.Fprintf(b.out, "fanout: %d workers: %.2f store ops per task (%.2f net of idle), %.2f ms CPU per task; idle worker: %.2f ops/s\n",
			n, row.OpsPerTask, row.OpsPerTaskNet, row.CPUPerTaskMs, row.IdleOpsPerWorkerSec)
	}
	return res, nil
}

// fanoutRun measures one fleet of n worker processes on a fresh pool.
func (b *bench) fanoutRun(ctx context.Context, fc FanoutConfig, conn *events.Conn, st taskstate.Store, store, natsURL string, n int) (*FanoutRow, error) {
	pool := fmt.Sprintf("bench-%s-fanout-%d", b.run, n)
	m, err := taskstate.NewManager(taskstate.Config{Store: st, Pool: pool, Notifier: conn.Notifier(), Logger: b.log})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(b.out, "fanout: starting %d worker processes × concurrency %d\n", n, fc.Concurrency)
	fl, err := startWorkers(ctx, fc, store, natsURL, pool, b.cfg.PollInterval, n)
	defer fl.stop()
	if err != nil {
		return nil, err
	}
	// Every worker has made its first claim: the fleet is idle.
	if err := fl.waitReady(ctx, 2*time.Minute); err != nil {
		return nil, err
	}
	wake, err := conn.Wakeups(ctx, pool, taskstate.EventCommitted, taskstate.EventFailed)
	if err != nil {
		return nil, err
	}
	defer wake.Close()

	fmt.Fprintf(b.out, "fanout: %d workers idle for %s\n", n, fc.Idle)
	idle0, cpu0, t0, err := fl.scrape(ctx)
	if err != nil {
		return nil, err
	}
	if err := sleep(ctx, fc.Idle); err != nil {
		return nil, err
	}
	idle1, cpu1, t1, err := fl.scrape(ctx)
	if err != nil {
		return nil, err
	}
	idleSecs := t1.Sub(t0).Seconds()
	idleOps := idle1.minus(idle0)
	idleCPU := idle1.cpu - idle0.cpu + (cpu1.proc - cpu0.proc).Seconds()

	fmt.Fprintf(b.out, "fanout: %d workers: creating %d tasks one at a time\n", n, fc.Tasks)
	done := make([]time.Duration, 0, fc.Tasks)
	for i := range fc.Tasks {
		start := time.Now()
		// A plain map: the worker processes do not know the Def type.
		spec := taskstate.TaskSpec{Kind: "noop", Def: map[string]any{"run": b.run, "seq": i}}
		cr, err := m.Create(ctx, []taskstate.TaskSpec{spec}, taskstate.CreateOptions{})
		if err != nil {
			return nil, err
		}
		t, err := waitTerminal(ctx, m, cr.IDs[0], wake.C())
		if err != nil {
			return nil, err
		}
		done = append(done, time.Since(start))
		if t.Status != taskstate.StatusDone || t.Attempts != 1 {
			// The figures per task would count a second run as a task's.
			return nil, fmt.Errorf("fanout: %d workers: task %d (%s) ended %s after %d attempts, want done after 1", n, i, t.ID, t.Status, t.Attempts)
		}
	}
	task1, cpu2, t2, err := fl.scrape(ctx)
	if err != nil {
		return nil, err
	}
	secs := t2.Sub(t1).Seconds()
	ops := task1.minus(idle1)
	cpu := task1.cpu - idle1.cpu + (cpu2.proc - cpu1.proc).Seconds()
	tasks := float64(fc.Tasks)
	claims := ops.ops["claim"] + ops.ops["commit_claim"]
	row := &FanoutRow{
		Workers: n, Seconds: secs,
		OpsPerTask:    ops.total() / tasks,
		OpsPerTaskNet: (ops.total() - idleOps.total()/idleSecs*secs) / tasks,
		ByOp:          map[string]float64{},
		ClaimsPerTask: claims / tasks, EmptyClaimsPerTask: (claims - ops.claimed) / tasks,
		CommitsPerTask: (ops.ops["commit"] + ops.ops["commit_claim"]) / tasks,
		CPUPerTaskMs:   1000 * cpu / tasks, CPUPerTaskNetMs: 1000 * (cpu - idleCPU/idleSecs*secs) / tasks,
		IdleOpsPerWorkerSec: idleOps.total() / idleSecs / float64(n), IdleByOp: map[string]float64{},
		IdleCPUPerWorker: 1000 * (idle1.cpu - idle0.cpu) / idleSecs / float64(n),
	}
	for op, v := range ops.ops {
		row.ByOp[op] = v / tasks
	}
	for op, v := range idleOps.ops {
		row.IdleByOp[op] = v / idleSecs / float64(n)
	}
	l := summarize(done)
	row.DoneP50, row.DoneP99 = l.P50, l.P99
	return row, nil
}

// waitTerminal waits until task id is done or failed and returns it,
// looking on every committed or failed event and every 50 ms.
func waitTerminal(ctx context.Context, m *taskstate.Manager, id string, wake <-chan struct{}) (*taskstate.Task, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		t, err := m.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if t.Status == taskstate.StatusDone || t.Status == taskstate.StatusFailed {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		case <-tick.C:
		}
	}
}

// workerFleet is n worker processes and their metrics addresses.
type workerFleet struct {
	cmds  []*exec.Cmd
	addrs []string
}

func startWorkers(ctx context.Context, fc FanoutConfig, store, natsURL, pool string, poll time.Duration, n int) (*workerFleet, error) {
	fl := &workerFleet{}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "TASKFLEET_") })
	for i := range n {
		addr, err := freeAddr()
		if err != nil {
			return fl, err
		}
		cmd := exec.CommandContext(ctx, fc.WorkerBin, "--store", store, "--pool", pool, "--nats", natsURL,
			"--kinds", "noop", "--concurrency", strconv.Itoa(fc.Concurrency), "--poll-interval", poll.String(),
			"--event-poll-interval", fc.EventPoll.String(), "--metrics-addr", addr, "--owner", fmt.Sprintf("fanout-%d", i), "--log-level", "warn")
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Start(); err != nil {
			return fl, fmt.Errorf("bench: start worker: %w", err)
		}
		fl.cmds = append(fl.cmds, cmd)
		fl.addrs = append(fl.addrs, addr)
	}
	return fl, nil
}

// stop sends SIGTERM to every worker and waits for them (SIGKILL after 10 s).
func (fl *workerFleet) stop() {
	for _, c := range fl.cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.AfterFunc(10*time.Second, func() {
		for _, c := range fl.cmds {
			_ = c.Process.Kill()
		}
	})
	defer deadline.Stop()
	for _, c := range fl.cmds {
		_ = c.Wait()
	}
}

// waitReady waits until every worker serves metrics and made a claim.
func (fl *workerFleet) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for i, addr := range fl.addrs {
		for {
			s, err := scrapeWorker(ctx, addr)
			if err == nil && s.ops["claim"] >= 1 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("bench: worker %d not ready within %s: %v", i, timeout, err)
			}
			if err := sleep(ctx, 20*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

// scrape sums every worker's figures, with this process's CPU and the time.
func (fl *workerFleet) scrape(ctx context.Context) (storeOps, cpuSample, time.Time, error) {
	sum := storeOps{ops: map[string]float64{}}
	for _, addr := range fl.addrs {
		s, err := scrapeWorker(ctx, addr)
		if err != nil {
			return sum, cpuSample{}, time.Time{}, err
		}
		sum = sum.plus(s)
	}
	return sum, sampleCPU(), time.Now(), nil
}

// storeOps is what worker metrics say: store calls by operation, tasks
// claimed and CPU seconds.
type storeOps struct {
	ops          map[string]float64
	claimed, cpu float64
}

func (s storeOps) plus(o storeOps) storeOps {
	out := storeOps{ops: map[string]float64{}, claimed: s.claimed + o.claimed, cpu: s.cpu + o.cpu}
	for k, v := range s.ops {
		out.ops[k] += v
	}
	for k, v := range o.ops {
		out.ops[k] += v
	}
	return out
}

func (s storeOps) minus(o storeOps) storeOps {
	neg := storeOps{ops: map[string]float64{}, claimed: -o.claimed, cpu: -o.cpu}
	for k, v := range o.ops {
		neg.ops[k] = -v
	}
	out := s.plus(neg)
	for k, v := range out.ops {
		if v == 0 {
			delete(out.ops, k)
		}
	}
	return out
}

func (s storeOps) total() float64 {
	var t float64
	for _, v := range s.ops {
		t += v
	}
	return t
}

func scrapeWorker(ctx context.Context, addr string) (storeOps, error) {
	s := storeOps{ops: map[string]float64{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return s, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return s, fmt.Errorf("bench: metrics of %s: %w", addr, err)
	}
	if f := fams["taskfleet_store_operation_duration_seconds"]; f != nil {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				// The pool gauge's count runs when /metrics is scraped:
				// the bench's own scrapes cause it, so it is left out.
				if l.GetName() == "op" && l.GetValue() != "stat" {
					s.ops[l.GetValue()] += float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	for name, dst := range map[string]*float64{"taskfleet_tasks_claimed_total": &s.claimed, "process_cpu_seconds_total": &s.cpu} {
		if f := fams[name]; f != nil {
			for _, m := range f.GetMetric() {
				*dst += m.GetCounter().GetValue()
			}
		}
	}
	return s, nil
}

func freeAddr() (string, error) {
	l, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// writeFanout prints the fanout table.
func writeFanout(w io.Writer, r *FanoutResult) error {
	if r == nil {
		return nil
	}
	fmt.Fprintf(w, "\nfanout: %d tasks created one at a time per fleet; worker concurrency %d; poll interval %s (%s while wake-ups flow); idle measured over %.0f s\n",
		r.Tasks, r.Concurrency, r.PollInterval, r.EventPoll, r.IdleSeconds)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKERS\tSTORE OPS/TASK\tNET OF IDLE\tCLAIMS/TASK (EMPTY)\tCOMMITS/TASK\tCPU/TASK\tNET OF IDLE\tDONE P50 / P99\tIDLE WORKER: OPS/S\tCPU")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%d\t%.2f\t%.2f\t%.2f (%.2f)\t%.2f\t%.2f ms\t%.2f ms\t%s / %s\t%.3f\t%.2f ms/s\n",
			row.Workers, row.OpsPerTask, row.OpsPerTaskNet, row.ClaimsPerTask, row.EmptyClaimsPerTask, row.CommitsPerTask,
			row.CPUPerTaskMs, row.CPUPerTaskNetMs, row.DoneP50, row.DoneP99, row.IdleOpsPerWorkerSec, row.IdleCPUPerWorker)
	}
	return tw.Flush()
}
