package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/events"
)

// EventsConfig returns the event bus configuration of the flags for a
// client called name, or false when no NATS URL is set.
func EventsConfig(c *cli.Common, name string, log *zap.Logger, reg prometheus.Registerer) (events.Config, bool) {
	if c.NATS == "" {
		return events.Config{}, false
	}
	return events.Config{
		URL: c.NATS, User: c.NATSUser, Password: c.NATSPassword, Token: c.NATSToken, CredsFile: c.NATSCreds,
		TLSCAFile: c.NATSCA, TLSCertFile: c.NATSCert, TLSKeyFile: c.NATSKey,
		Name: name, Logger: log, Registerer: reg,
		// NATS is optional: a process whose server is down at start works by
		// polling and picks events up once the server answers.
		ConnectRetry: time.Second, ConnectInBackground: true,
	}, true
}
