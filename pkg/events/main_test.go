package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/events/eventstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor is how long a test waits for asynchronous work before failing.
const waitFor = 10 * time.Second

// testBundle is a server, a connection with its own metrics registry, and
// a plain JetStream client to look at the stream from outside.
type testBundle struct {
	srv  *events.Embedded
	reg  *prometheus.Registry
	conn *events.Conn
	js   jetstream.JetStream
}

func setup(t *testing.T, cfg events.Config) *testBundle {
	t.Helper()
	srv := eventstest.Server(t, events.EmbeddedConfig{})
	return setupOn(t, srv, cfg)
}

func setupOn(t *testing.T, srv *events.Embedded, cfg events.Config) *testBundle {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	cfg.Registerer = reg
	conn := eventstest.Connect(t, srv, cfg)
	return &testBundle{srv: srv, reg: reg, conn: conn, js: newJS(t, srv.ClientURL())}
}

// newJS returns a JetStream client on its own connection, closed at the
// end of the test.
func newJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// metric returns the value of the counter or gauge name with labels, and
// whether it exists.
func metric(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func value(t *testing.T, reg prometheus.Gatherer, name, pool, event string) float64 {
	t.Helper()
	v, _ := metric(t, reg, name, map[string]string{"pool": pool, "event": event})
	return v
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	require.Eventually(t, cond, waitFor, 2*time.Millisecond, msgAndArgs...)
}

// receive waits for one value from ch.
func receive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitFor):
		t.Fatalf("no %s within %s", what, waitFor)
	}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}
