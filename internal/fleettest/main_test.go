package fleettest_test

import (
	"testing"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

func TestMain(m *testing.M) { fleettest.Main(m) }
