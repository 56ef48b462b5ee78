package program

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// A program's attempt writes into a work directory that the handler
// removes when the attempt ends. A worker that is killed (SIGKILL, the
// OOM killer, a lost host's reboot into the same disk) cannot remove
// them, and they hold the attempts' artifacts: models and predictions of
// gigabytes, left in the temporary directory for ever. So a worker makes
// its work directories inside a work root of its own, locked while the
// process lives, and each worker that opens one removes the roots whose
// lock nobody holds any more.

// workRootPrefix starts the name of every work root in a parent directory.
// Its underscore keeps it apart from an attempt's own work directory,
// "taskfleet-<program>-*", which a worker without a work root (or an older
// build) makes in the same parent. A root is created under workRootTemp
// and renamed to its final name only once locked, so that no sweep ever
// sees an unlocked live root.
const (
	workRootPrefix = "taskfleet_work-"
	workRootTemp   = ".taskfleet_work_new-"
	workRootLock   = ".lock"
)

// orphanAge is how old an unlocked directory named like a work root but
// without a lock file must be before a sweep removes it: a process that
// died between making it and locking it (renaming makes that window
// empty for this package's own roots).
const orphanAge = time.Hour

// WorkRoot is one worker process's directory of attempt work directories
// (Options.WorkRoot), held with a lock while the process lives.
type WorkRoot struct {
	dir  string
	lock *os.File
}

// OpenWorkRoot makes a work root in parent (os.TempDir() when empty) and
// removes the roots of worker processes that are gone, returning their
// paths. A root that cannot be removed is left for the next worker.
func OpenWorkRoot(parent string) (*WorkRoot, []string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	tmp, err := os.MkdirTemp(parent, workRootTemp+"*")
	if err != nil {
		return nil, nil, fmt.Errorf("work root: %w", err)
	}
	lock, err := lockFile(filepath.Join(tmp, workRootLock), true)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, nil, fmt.Errorf("work root: %w", err)
	}
	dir := filepath.Join(parent, workRootPrefix+strings.TrimPrefix(filepath.Base(tmp), workRootTemp))
	if err := os.Rename(tmp, dir); err != nil {
		_ = lock.Close()
		_ = os.RemoveAll(tmp)
		return nil, nil, fmt.Errorf("work root: %w", err)
	}
	w := &WorkRoot{dir: dir, lock: lock}
	removed := w.sweep(parent)
	return w, removed, nil
}

// OpenWorkRootFor is OpenWorkRoot for a worker running specs: nil when
// there are none, and the roots it removed logged.
func OpenWorkRootFor(specs []Spec, parent string, log *zap.Logger) (*WorkRoot, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	w, removed, err := OpenWorkRoot(parent)
	if err != nil {
		return nil, fmt.Errorf("programs: %w", err)
	}
	if len(removed) > 0 {
		log.Info("removed the work directories of worker processes that are gone", zap.Strings("dirs", removed))
	}
	return w, nil
}

// Dir is the work root's path, for Options.WorkRoot; "" (the default) for
// a nil WorkRoot.
func (w *WorkRoot) Dir() string {
	if w == nil {
		return ""
	}
	return w.dir
}

// Close removes the work root and lets go of its lock. A nil WorkRoot
// has nothing to close.
func (w *WorkRoot) Close() error {
	if w == nil {
		return nil
	}
	err := os.RemoveAll(w.dir)
	return errors.Join(err, w.lock.Close())
}

// sweep removes the other work roots in parent whose lock it can take.
func (w *WorkRoot) sweep(parent string) []string {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		dir := filepath.Join(parent, e.Name())
		if !e.IsDir() || !strings.HasPrefix(e.Name(), workRootPrefix) || dir == w.dir {
			continue
		}
		if removeIfGone(dir) {
			removed = append(removed, dir)
		}
	}
	return removed
}

// removeIfGone removes the work root dir when no process holds its lock,
// and reports whether it did.
func removeIfGone(dir string) bool {
	lock, err := lockFile(filepath.Join(dir, workRootLock), false)
	switch {
	case errors.Is(err, os.ErrNotExist):
		fi, serr := os.Stat(dir)
		if serr != nil || time.Since(fi.ModTime()) < orphanAge {
			return false
		}
		return os.RemoveAll(dir) == nil
	case err != nil:
		return false // held (alive), or not ours to read
	}
	defer lock.Close()
	return os.RemoveAll(dir) == nil
}
