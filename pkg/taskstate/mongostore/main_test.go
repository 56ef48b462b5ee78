package mongostore

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind (a cursor or a
// client that was not closed).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
