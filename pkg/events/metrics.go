package events

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the collectors of one Conn. They count whether or not they
// are registered.
type metrics struct {
	published  *prometheus.CounterVec
	failed     *prometheus.CounterVec
	received   *prometheus.CounterVec
	reconnects prometheus.Counter
	connected  prometheus.Gauge
}

func newMetrics() *metrics {
	labels := []string{"pool", "event"}
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskfleet_events_published_total",
			Help: "Task events stored by the JetStream stream (acknowledged publishes).",
		}, labels),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskfleet_events_publish_failed_total",
			Help: "Task events that could not be published: not connected, no or negative ack, or the async publish window was full. Tasks are unaffected; workers and waiters fall back to polling.",
		}, labels),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskfleet_events_received_total",
			Help: "Task events received by wake-up subscriptions (before coalescing).",
		}, labels),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "taskfleet_events_reconnects_total",
			Help: "Reconnections to the NATS server after a lost connection.",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "taskfleet_events_connected",
			Help: "1 while the connection to the NATS server is up, else 0.",
		}),
	}
	return m
}

// register registers the collectors with reg, or adopts the identical ones
// already there, so several Conns of one process (or a Connect retried
// after a failure) share their series. Call it before the first count.
func (m *metrics) register(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	m.published = register(reg, m.published)
	m.failed = register(reg, m.failed)
	m.received = register(reg, m.received)
	m.reconnects = register(reg, m.reconnects)
	m.connected = register(reg, m.connected)
}

// register registers c, or returns the identical collector already
// registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a name clash with a different metric: a programming error
	}
	return c
}
