package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind (the in-process worker starts its runner, metrics server and store).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
