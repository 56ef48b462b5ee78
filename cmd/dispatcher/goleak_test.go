package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind (the in-process commands start stores, NATS and servers).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
