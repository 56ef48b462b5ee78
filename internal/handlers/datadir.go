package handlers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// ErrOutsideDataDir is the error of a dataset path that a worker refuses:
// outside its data directory (after symbolic links are resolved) or in
// /proc, /sys or /dev.
var ErrOutsideDataDir = errors.New("outside the data directory")

// forbiddenRoots are never read, whatever the data directory: they hold a
// process's environment, devices that never end, kernel state.
var forbiddenRoots = []string{"/proc", "/sys", "/dev"}

// maxPathQuoted bounds how much of a def's path an error repeats.
const maxPathQuoted = 200

// dataPath resolves path, as a task def names it, under root (the data
// directory; "" is the working directory): relative paths are relative to
// root, and the resolved file (symbolic links followed) must be inside
// root and outside forbiddenRoots. Errors are permanent: the def will not
// get better on another attempt.
func dataPath(root, path string) (string, error) {
	what := fmt.Sprintf("%s.csv: %q", DataPath, shorten(path))
	fail := func(format string, args ...any) (string, error) {
		return "", taskstate.Permanent(fmt.Errorf("%s: "+format, append([]any{what}, args...)...))
	}
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fail("no data directory: %v", err)
		}
		root = wd
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return fail("data directory: %v", err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fail("data directory %s: %v", root, err)
	}
	full := path
	if !filepath.IsAbs(full) {
		full = filepath.Join(root, full)
	}
	full = filepath.Clean(full)
	// Checked before the file is looked at, so that an error does not tell
	// whether a file outside the directory exists.
	if !within(root, full) && !within(realRoot, full) {
		return fail("%w %s (the worker's --data-dir)", ErrOutsideDataDir, root)
	}
	resolved, err := filepath.EvalSymlinks(full)
	if errors.Is(err, os.ErrNotExist) {
		return fail("no such file in the data directory %s", root)
	}
	if err != nil {
		return fail("%v", errors.Unwrap(err))
	}
	if !within(realRoot, resolved) {
		return fail("%w %s (a symbolic link leads out of it)", ErrOutsideDataDir, root)
	}
	for _, f := range forbiddenRoots {
		if within(f, resolved) {
			return fail("%w: %s is never read", ErrOutsideDataDir, f)
		}
	}
	return resolved, nil
}

// within reports whether path is dir or inside it; both are clean and
// absolute.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

func shorten(s string) string {
	if len(s) <= maxPathQuoted {
		return s
	}
	return s[:maxPathQuoted] + "…"
}
