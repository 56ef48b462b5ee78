package taskstate

import "time"

// DefaultPollInterval is a Runner's fallback poll without events. It is
// short because a poll that finds nothing is a read, not a write.
const DefaultPollInterval = 150 * time.Millisecond

// DefaultEventPollInterval is a Runner's poll while its wake-ups are
// live: a safety net for a lost wake-up, not the way work is found. An
// idle fleet's polls grow with its workers, not its tasks; a long poll
// keeps that cost small.
const DefaultEventPollInterval = 5 * time.Second

// clockOf returns now when it is set, else the Manager's clock
// (Config.Now), else time.Now: the worker's own clock, which the Runner's
// heartbeat uses to time how long ago its leases were renewed. Lease ends
// and expiries are the store's clock's (see Config.Now).
func clockOf(now func() time.Time, m *Manager) func() time.Time {
	switch {
	case now != nil:
		return now
	case m != nil && m.cfg.Now != nil:
		return m.cfg.Now
	default:
		return time.Now
	}
}
