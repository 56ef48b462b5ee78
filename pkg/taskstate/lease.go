package taskstate

import (
	"errors"
	"fmt"
	"time"
)

// Lease and grace bounds. Every lease end and every expiry is computed by
// the store's clock from a duration (never from a worker's clock), so the
// durations are bounded where they enter: a lease shorter than a second
// cannot be renewed in time, and one longer than a day is a typo that
// would otherwise overflow the stored time.
const (
	MinLease = time.Second
	MaxLease = 24 * time.Hour
)

// ErrInvalidDuration means a lease, grace or delay is outside its bounds.
var ErrInvalidDuration = errors.New("taskstate: invalid duration")

// CheckLease reports whether d, the duration called name (a flag or a
// field), is within [MinLease, MaxLease]; the error names it and wraps
// ErrInvalidDuration.
func CheckLease(name string, d time.Duration) error {
	if d < MinLease || d > MaxLease {
		return fmt.Errorf("%w: %s %s is not within [%s, %s]", ErrInvalidDuration, name, d, MinLease, fmtHours(MaxLease))
	}
	return nil
}

// storeLease is the store's own bound: positive and at most MaxLease (the
// contract suite uses short leases to see them expire).
func storeLease(name string, d time.Duration) error {
	if d <= 0 || d > MaxLease {
		return fmt.Errorf("%w: %s %s is not within (0, %s]", ErrInvalidDuration, name, d, fmtHours(MaxLease))
	}
	return nil
}

func fmtHours(d time.Duration) string { return fmt.Sprintf("%dh", int(d/time.Hour)) }

// storeNow is how a Manager given Config.Now passes its clock to the
// store in place of the store's own (tests that drive leases with a fake
// clock); a Manager without one passes the zero time, and the store
// decides every lease end and expiry by its own clock.
func (m *Manager) storeNow() time.Time {
	if m.storeClock == nil {
		return time.Time{}
	}
	return m.storeClock()
}
