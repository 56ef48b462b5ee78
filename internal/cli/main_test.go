package cli

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind (a store or an events connection that was not closed).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
