package events

import (
	"sync"
	"time"
)

// logEvery is the interval of rate-limited log lines.
const logEvery = 5 * time.Second

// rateLog lets one log line through per interval and counts the ones it
// held back, so a storm of failures logs a line every few seconds with the
// number suppressed, not a line per failure.
type rateLog struct {
	every time.Duration

	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// allow reports whether to log now and, if so, how many lines were
// suppressed since the last one.
func (r *rateLog) allow(now time.Time) (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Before(r.next) {
		r.suppressed++
		return false, 0
	}
	suppressed, r.suppressed = r.suppressed, 0
	r.next = now.Add(r.every)
	return true, suppressed
}
