package metrics

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

const (
	// poolCacheTTL is how long one reading of the store serves scrapes.
	poolCacheTTL = time.Second
	// defaultStatTimeout bounds one reading when NewPoolCollector is given
	// no timeout.
	defaultStatTimeout = 5 * time.Second
)

var (
	tasksDesc = prometheus.NewDesc(nameTasks,
		"Tasks in the pool by status (waiting, running, part_done, done, failed), read from the store at scrape time.",
		[]string{"pool", "status"}, nil)
	statUpDesc = prometheus.NewDesc(nameStatUp,
		"1 if the last reading of the store got the task counts of every pool, else 0.",
		nil, nil)
)

// poolCollector reads task counts from the store when scraped.
type poolCollector struct {
	stat    func(ctx context.Context, pool string) (taskstate.Counts, error)
	pools   func(ctx context.Context) ([]string, error)
	timeout time.Duration
	log     *zap.Logger
	errors  prometheus.Counter
	now     func() time.Time

	mu   sync.Mutex // held while reading the store: one reading at a time
	last *poolReading
}

// poolReading is one reading of the store, shared read-only by the scrapes
// it serves.
type poolReading struct {
	at     time.Time
	counts []poolCounts
	up     bool
}

type poolCounts struct {
	pool   string
	counts taskstate.Counts
}

// NewPoolCollector returns a collector of taskfleet_tasks{pool,status}: the
// number of tasks of every pool in every status, zeros included, read with
// stat from the store when Prometheus scrapes. pools lists the pools to
// read: a dispatcher passes the store's pool list, a worker its one pool
// (see StaticPools).
//
// One reading, bounded by timeout (default 5 s), serves every scrape for a
// second, so concurrent scrapes do not hammer the store. A pool whose counts
// cannot be read is left out of that scrape; the failure is logged, counted
// in taskfleet_pool_stat_errors_total and makes taskfleet_pool_stat_up 0.
//
// Register the collector on a registry; it starts no goroutine.
func NewPoolCollector(
	stat func(ctx context.Context, pool string) (taskstate.Counts, error),
	pools func(ctx context.Context) ([]string, error),
	timeout time.Duration,
	log *zap.Logger,
) prometheus.Collector {
	if timeout <= 0 {
		timeout = defaultStatTimeout
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &poolCollector{
		stat:    stat,
		pools:   pools,
		timeout: timeout,
		log:     log,
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: nameStatErrors,
			Help: "Failed readings of task counts from the store (listing the pools or counting one pool's tasks).",
		}),
		now: time.Now,
	}
}

// StaticPools returns a pools function for NewPoolCollector that always
// lists the given pools.
func StaticPools(pools ...string) func(ctx context.Context) ([]string, error) {
	pools = slices.Clone(pools)
	return func(context.Context) ([]string, error) { return pools, nil }
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tasksDesc
	ch <- statUpDesc
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.reading()
	for _, pc := range r.counts {
		for _, s := range taskstate.Statuses {
			ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(pc.counts[s]), pc.pool, string(s))
		}
	}
	up := 0.0
	if r.up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(statUpDesc, prometheus.GaugeValue, up)
	c.errors.Collect(ch)
}

// reading returns the last reading if it is fresh, else reads the store.
// Scrapes that arrive during a reading wait for it and share it.
func (c *poolCollector) reading() *poolReading {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && c.now().Sub(c.last.at) < poolCacheTTL {
		return c.last
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.last = c.read(ctx)
	c.last.at = c.now()
	return c.last
}

func (c *poolCollector) read(ctx context.Context) *poolReading {
	r := &poolReading{up: true}
	pools, err := c.pools(ctx)
	if err != nil {
		c.errors.Inc()
		c.log.Warn("cannot list pools for taskfleet_tasks", zap.Error(err))
		r.up = false
		return r
	}
	pools = slices.Compact(slices.Sorted(slices.Values(pools)))
	for _, pool := range pools {
		counts, err := c.stat(ctx, pool)
		if err == nil && counts == nil {
			err = errors.New("stat returned no counts")
		}
		if err != nil {
			c.errors.Inc()
			c.log.Warn("cannot count tasks for taskfleet_tasks", zap.String("pool", pool), zap.Error(err))
			r.up = false
			continue
		}
		r.counts = append(r.counts, poolCounts{pool: pool, counts: counts})
	}
	return r
}
