//go:build unix

package e2e_test

import (
	"testing"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// TestMain removes the built binaries after the run and fails it on leaked
// goroutines.
func TestMain(m *testing.M) { fleettest.Main(m) }
