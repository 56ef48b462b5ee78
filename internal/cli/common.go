package cli

import (
	"strings"

	"github.com/taskfleet/taskfleet/internal/redact"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/mongostore"
)

// DefaultStore is the embedded default.
const DefaultStore = "sqlite://.taskfleet/tasks.db"

// Common holds the flags both binaries share.
type Common struct {
	// Store is sqlite://PATH or a mongodb:// URI. Default DefaultStore.
	Store string
	// DB is the MongoDB database. Default "taskfleet".
	DB string
	// Pool is the task pool. Default "default".
	Pool string
	// NATS is the NATS URL; empty runs without events (polling only).
	NATS string
	// NATS credentials and TLS: see events.Config.
	NATSUser, NATSPassword, NATSToken, NATSCreds string
	NATSCA, NATSCert, NATSKey                    string
	// NATSLimits are the event streams' limits.
	NATSLimits NATSLimits
	// Output is table or json. Default table.
	Output string
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string
	// LogFormat is console or json. Default console.
	LogFormat string

	fs    *FlagSet
	local bool // RegisterLocal: no store or NATS flags
}

// Register defines the common flags on fs.
func (c *Common) Register(fs *FlagSet) {
	c.fs = fs
	fs.StringVar(&c.Store, "store", "TASKFLEET_STORE", DefaultStore, "task store: sqlite://PATH or mongodb://[user:pass@]host[:port][/?options]")
	fs.StringVar(&c.DB, "db", "TASKFLEET_DB", mongostore.DefaultDatabase, "MongoDB database holding the pools")
	fs.StringVar(&c.Pool, "pool", "TASKFLEET_POOL", "default", "task pool (Qlib's task_pool)")
	fs.StringVar(&c.NATS, "nats", "TASKFLEET_NATS", "", "NATS URL for events, e.g. nats://127.0.0.1:4222 (empty: no events, poll only)")
	fs.StringVar(&c.NATSUser, "nats-user", "TASKFLEET_NATS_USER", "", "NATS user name")
	fs.StringVar(&c.NATSPassword, "nats-password", "TASKFLEET_NATS_PASSWORD", "", "NATS password")
	fs.StringVar(&c.NATSToken, "nats-token", "TASKFLEET_NATS_TOKEN", "", "NATS token")
	fs.StringVar(&c.NATSCreds, "nats-creds", "TASKFLEET_NATS_CREDS", "", "NATS credentials file")
	fs.StringVar(&c.NATSCA, "nats-ca", "TASKFLEET_NATS_CA", "", "PEM file of the CAs that sign the NATS server certificate (turns TLS on)")
	fs.StringVar(&c.NATSCert, "nats-cert", "TASKFLEET_NATS_CERT", "", "client certificate for NATS mutual TLS")
	fs.StringVar(&c.NATSKey, "nats-key", "TASKFLEET_NATS_KEY", "", "client key for NATS mutual TLS")
	c.NATSLimits.register(fs)
	c.registerOutput(fs)
}

// RegisterLocal defines only the output and log flags, for a command that
// reads no store and no NATS (gen): its help lists no flag it ignores.
func (c *Common) RegisterLocal(fs *FlagSet) {
	c.fs, c.local = fs, true
	c.Store, c.DB, c.Pool = DefaultStore, mongostore.DefaultDatabase, "default"
	c.registerOutput(fs)
}

func (c *Common) registerOutput(fs *FlagSet) {
	fs.StringVar(&c.Output, "o", "TASKFLEET_OUTPUT", "table", "output format: table or json")
	fs.StringVar(&c.LogLevel, "log-level", "TASKFLEET_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "TASKFLEET_LOG_FORMAT", "console", "log format: console or json")
}

// Redactor hides the credentials these flags carry: those of the store and
// NATS URLs and the NATS password and token.
func (c *Common) Redactor() *redact.Redactor {
	return redact.New([]string{c.Store, c.NATS}, c.NATSPassword, c.NATSToken)
}

// Validate checks the values that need no I/O.
func (c *Common) Validate() error {
	if c.Output != "table" && c.Output != "json" {
		return Usagef("%s: unknown output format %q (want table or json)", c.fs.Where("o"), c.Output)
	}
	if c.local {
		return nil
	}
	if err := taskstate.ValidatePool(c.Pool); err != nil {
		return Usagef("%s: %v", c.fs.Where("pool"), err)
	}
	if err := c.NATSLimits.validate(c.fs); err != nil {
		return err
	}
	if _, _, err := c.StoreTarget(); err != nil {
		return err
	}
	return nil
}

// Store kinds of StoreTarget.
const (
	StoreSQLite = "sqlite"
	StoreMongo  = "mongo"
)

// StoreTarget returns the kind of store --store names (StoreSQLite or
// StoreMongo) and what to open: the SQLite path or the MongoDB URI. An
// unsupported value is a usage error.
func (c *Common) StoreTarget() (kind, target string, err error) {
	switch {
	case strings.HasPrefix(c.Store, "sqlite://"):
		path := strings.TrimPrefix(c.Store, "sqlite://")
		if path == "" {
			return "", "", Usagef("%s: sqlite:// needs a path, e.g. sqlite://.taskfleet/tasks.db", c.fs.Where("store"))
		}
		return StoreSQLite, path, nil
	case strings.HasPrefix(c.Store, "mongodb://"), strings.HasPrefix(c.Store, "mongodb+srv://"):
		return StoreMongo, c.Store, nil
	}
	return "", "", Usagef("%s: unsupported store %q (want sqlite://PATH or mongodb://HOST)", c.fs.Where("store"), redact.URI(c.Store))
}

// Where names the source of flag name's value for error messages (see
// FlagSet.Where).
func (c *Common) Where(name string) string { return c.fs.Where(name) }

// Embedded reports whether the store is the embedded SQLite default.
func (c *Common) Embedded() bool {
	kind, _, _ := c.StoreTarget()
	return kind == StoreSQLite
}
