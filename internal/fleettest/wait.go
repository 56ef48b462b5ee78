package fleettest

import (
	"errors"
	"net"
	"testing"
	"time"
)

// Tick is how often [Eventually] and the waits of a [Proc] poll.
const Tick = 20 * time.Millisecond

// Eventually calls cond until it returns nil, every [Tick], and fails the
// test with cond's last error once timeout has passed. cond runs on the
// test's goroutine, so it may itself fail the test.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := poll(timeout, cond); err != nil {
		t.Fatalf("not true within %s: %v", timeout, err)
	}
}

// poll calls cond until it returns nil, errExited or timeout passes, and
// returns its last error.
func poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(Tick)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil || errors.Is(err, errExited) || time.Now().After(deadline) {
			return err
		}
		<-tick.C
	}
}

// FreeAddr returns a loopback address (HOST:PORT) whose port was free a
// moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
