package taskstate

import "time"

// clockOf returns now when it is set, else the Manager's clock
// (Config.Now), else time.Now. The Runner, its heartbeat, completer and
// reaper all take their time from the one function it returns, so a fake
// clock given to the Manager (or to RunnerConfig.NowFunc) drives every
// lease computation, as River's Archetype.Time does.
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
