package health

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// Errors of Ready and Err. Each wraps the cause where there is one.
var (
	// ErrDraining: the process is shutting down and takes no new work.
	ErrDraining = errors.New("draining")
	// ErrUnreachable: the last check of the store failed or timed out.
	ErrUnreachable = errors.New("store unreachable")
	// ErrNotChecked: no check has finished yet.
	ErrNotChecked = errors.New("store not checked yet")
	// ErrStoreGone: the SQLite file was deleted, replaced or is corrupt; it
	// will not heal.
	ErrStoreGone = errors.New("store file lost")
)

// Config configures Start.
type Config struct {
	// Check pings the store and must honour ctx. Required.
	Check func(ctx context.Context) error
	// File is the SQLite file whose identity (device and inode) must not
	// change and whose corruption is fatal. Empty for other stores.
	File string
	// Interval between checks. Default 1 s.
	Interval time.Duration
	// Timeout bounds one check. Default 2 s.
	Timeout time.Duration
	// Logger receives one line per change of state. Default: none.
	Logger *zap.Logger
	// OnFatal, when set, is called once, with the error, when the store
	// is lost for good.
	OnFatal func(error)
}

// Monitor is the store's health as last checked. It is safe for
// concurrent use.
type Monitor struct {
	cfg  Config
	file os.FileInfo // the file as first seen; nil without Config.File

	// suspect counts the checks in a row that found the file shorter than
	// its header says, at the same size (see checkFile).
	suspect     int
	suspectSize int64

	mu       sync.Mutex
	err      error // last check: nil when the store answered
	draining bool
	fatal    error

	fatalCh chan struct{}
	done    chan struct{}
}

// Start checks the store once in the background and then every Interval
// until ctx is done. With Config.File, the file must exist now.
func Start(ctx context.Context, cfg Config) (*Monitor, error) {
	if cfg.Check == nil {
		return nil, errors.New("health: Config.Check is required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	m := &Monitor{cfg: cfg, err: ErrNotChecked, fatalCh: make(chan struct{}), done: make(chan struct{})}
	if cfg.File != "" {
		fi, err := os.Stat(cfg.File)
		if err != nil {
			return nil, fmt.Errorf("health: %w", err)
		}
		m.file = fi
	}
	go m.run(ctx)
	return m, nil
}

func (m *Monitor) run(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		m.checkOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-m.fatalCh:
			return
		case <-t.C:
		}
	}
}

func (m *Monitor) checkOnce(ctx context.Context) {
	if err := m.checkFile(); err != nil {
		m.setFatal(err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	err := m.cfg.Check(cctx)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: not the store's fault
	}
	if err != nil && m.file != nil && corrupt(err) {
		m.setFatal(fmt.Errorf("%w: %s is corrupt: %v", ErrStoreGone, m.cfg.File, err))
		return
	}
	m.mu.Lock()
	prev := m.err
	if err != nil {
		m.err = fmt.Errorf("%w: %w", ErrUnreachable, err)
	} else {
		m.err = nil
	}
	m.mu.Unlock()
	switch {
	case err != nil && (prev == nil || errors.Is(prev, ErrNotChecked)):
		m.cfg.Logger.Warn("store unreachable: not ready until it answers", zap.Error(err))
	case err == nil && prev != nil && !errors.Is(prev, ErrNotChecked):
		m.cfg.Logger.Info("store reachable again: ready")
	}
}

// checkFile reports a deleted or replaced SQLite file.
func (m *Monitor) checkFile() error {
	if m.file == nil {
		return nil
	}
	fi, err := os.Stat(m.cfg.File)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s was deleted", ErrStoreGone, m.cfg.File)
	case err != nil:
		return fmt.Errorf("%w: %s: %v", ErrStoreGone, m.cfg.File, err)
	case !os.SameFile(m.file, fi):
		return fmt.Errorf("%w: %s was replaced by another file", ErrStoreGone, m.cfg.File)
	}
	// A file shorter than its header says is healthy while the WAL holds
	// the missing pages (CheckHeader). A checkpoint also writes the header
	// before the pages that grow the file (a large one for seconds), so a
	// short file counts as damaged only when suspectChecks checks in a row
	// see it without the file growing.
	err = sqlitestore.CheckHeader(m.cfg.File, fi.Size())
	switch {
	case err == nil:
		m.suspect = 0
	case m.suspect > 0 && fi.Size() == m.suspectSize:
		m.suspect++
	default:
		m.suspect, m.suspectSize = 1, fi.Size()
	}
	if m.suspect >= suspectChecks {
		return fmt.Errorf("%w: %s is corrupt: %v", ErrStoreGone, m.cfg.File, err)
	}
	return nil
}

// suspectChecks is how many checks in a row must find the same damage.
const suspectChecks = 3

// corrupt reports an SQLite error that says the file is damaged.
func corrupt(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "malformed") || strings.Contains(msg, "not a database") || strings.Contains(msg, "SQLITE_CORRUPT") || strings.Contains(msg, "SQLITE_NOTADB")
}

func (m *Monitor) setFatal(err error) {
	m.mu.Lock()
	if m.fatal != nil {
		m.mu.Unlock()
		return
	}
	m.fatal = err
	close(m.fatalCh)
	m.mu.Unlock()
	m.cfg.Logger.Error("store lost: stopping (restore the store file, then restart)", zap.Error(err))
	if m.cfg.OnFatal != nil {
		m.cfg.OnFatal(err)
	}
}

// Observe looks at the error of any store call the process made: for an
// SQLite store, corruption is fatal at once, without waiting for a check
// to run into it.
func (m *Monitor) Observe(err error) {
	if err != nil && m.file != nil && corrupt(err) {
		m.setFatal(fmt.Errorf("%w: %s is corrupt: %v", ErrStoreGone, m.cfg.File, err))
	}
}

// Ready returns nil when the store answered the last check and the
// process is not draining, else why not.
func (m *Monitor) Ready() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.fatal != nil:
		return m.fatal
	case m.draining:
		return ErrDraining
	}
	return m.err
}

// SetDraining makes Ready fail from now on.
func (m *Monitor) SetDraining() {
	m.mu.Lock()
	m.draining = true
	m.mu.Unlock()
}

// Fatal is closed when the store is lost for good; Err then says why.
func (m *Monitor) Fatal() <-chan struct{} { return m.fatalCh }

// Err returns the fatal error, or nil.
func (m *Monitor) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fatal
}

// Done is closed once the monitor's goroutine has returned.
func (m *Monitor) Done() <-chan struct{} { return m.done }
