package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// namePaused is the pause gauge (listed with the others in doc.go).
const namePaused = "taskfleet_pool_paused"

var pausedDesc = prometheus.NewDesc(namePaused,
	"1 while the pool is paused (workers claim nothing from it), else 0; read from the store at scrape time.",
	[]string{"pool"}, nil)

// pausedCollector reads each pool's paused state when scraped.
type pausedCollector struct {
	state   func(ctx context.Context, pool string) (taskstate.PoolState, error)
	pools   func(ctx context.Context) ([]string, error)
	timeout time.Duration
	log     *zap.Logger
}

// NewPausedCollector returns a collector of taskfleet_pool_paused{pool}.
// A pool whose state cannot be read within timeout (default 5 s) is left
// out of that scrape, and the failure logged.
func NewPausedCollector(
	state func(ctx context.Context, pool string) (taskstate.PoolState, error),
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
	return &pausedCollector{state: state, pools: pools, timeout: timeout, log: log}
}

// Describe implements prometheus.Collector.
func (c *pausedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- pausedDesc }

// Collect implements prometheus.Collector.
func (c *pausedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	pools, err := c.pools(ctx)
	if err != nil {
		c.log.Warn("cannot list pools for "+namePaused, zap.Error(err))
		return
	}
	for _, p := range pools {
		st, err := c.state(ctx, p)
		if err != nil {
			c.log.Warn("cannot read the paused state of a pool", zap.String("pool", p), zap.Error(err))
			continue
		}
		v := 0.0
		if st.Paused {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, v, p)
	}
}
