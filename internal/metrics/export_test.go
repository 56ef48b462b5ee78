package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SetPoolClock replaces the clock a pool collector's cache reads.
func SetPoolClock(c prometheus.Collector, now func() time.Time) {
	pc := c.(*poolCollector)
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.now = now
}

// PoolCacheTTL is how long one reading serves scrapes.
const PoolCacheTTL = poolCacheTTL
