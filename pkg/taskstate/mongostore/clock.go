package mongostore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// clockRefresh is how often the server's clock is read again.
const clockRefresh = time.Minute

// serverClock is the server's clock as this process sees it: the offset
// of the server's localTime (from the hello command) to the local clock,
// measured at the midpoint of the round trip. Every lease end and expiry
// is computed with it, so a worker whose clock is off still leases by the
// server's time. (FerretDB v1 has $currentDate but neither $$NOW nor
// pipeline updates, and a lease end is now + lease: the offset is what
// both servers support.)
type serverClock struct {
	mu     sync.Mutex
	offset time.Duration
	read   time.Time // local time of the last reading (zero: none yet)
}

// now returns the server's time, to the millisecond BSON dates keep, or
// override when it is set (a params' stand-in clock). It reads the server's
// clock when the last reading is older than clockRefresh; if that read
// fails, an older reading is used, and with none the error is returned.
func (s *Store) now(ctx context.Context, override time.Time) (time.Time, error) {
	if !override.IsZero() {
		return override, nil
	}
	c := &s.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.read.IsZero() || time.Since(c.read) > clockRefresh {
		off, err := s.readOffset(ctx)
		switch {
		case err == nil:
			c.offset, c.read = off, time.Now()
		case c.read.IsZero():
			return time.Time{}, err
		default:
			s.log.Warn("cannot read the server's clock; using the last offset")
		}
	}
	return time.Now().Add(c.offset).Round(0).Truncate(time.Millisecond).UTC(), nil
}

// readOffset runs hello and returns the server's localTime minus the local
// time at the midpoint of the round trip.
func (s *Store) readOffset(ctx context.Context) (time.Duration, error) {
	var hello struct {
		LocalTime time.Time `bson:"localTime"`
	}
	start := time.Now()
	if err := s.db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return 0, s.sc.wrap("mongostore: read the server's clock", err)
	}
	if hello.LocalTime.IsZero() {
		return 0, fmt.Errorf("mongostore: read the server's clock: hello has no localTime")
	}
	rtt := time.Since(start)
	return hello.LocalTime.Sub(start.Round(0).Add(rtt / 2)), nil
}
