package sqlitestore_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind (a database left open keeps database/sql's connection opener running).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
