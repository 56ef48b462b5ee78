package job_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind (a runner, a store's connection opener or an events connection that was not stopped).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
