package program

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// storeArtifacts stores every regular file directly in dir, by its name,
// through the attempt's artifact writer (taskstate.Artifacts(ctx)), in
// name order. Each file is streamed from disk, never read whole.
//
// The directory is the program's, and the program is the task creator's
// code: the worker must not be made to read a file the program could not
// name itself. So anything that is not a regular file (a symlink, a
// directory, a FIFO, a device) fails the attempt for good, and a file is
// checked after it is opened to be the one inspected, not something
// swapped in since.
func storeArtifacts(ctx context.Context, program, dir string, log *zap.Logger) error {
	// The directory itself too: a program may have replaced it with a
	// link. Opened as a root, nothing under it resolves outside it.
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("program %s: %s: %w", program, ArtifactDirEnv, err)
	}
	if !fi.IsDir() {
		return taskstate.Permanent(fmt.Errorf("program %s: %s is no longer a directory (%s)", program, ArtifactDirEnv, fi.Mode().Type()))
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("program %s: %s: %w", program, ArtifactDirEnv, err)
	}
	defer root.Close()
	if opened, err := root.Stat("."); err != nil || !os.SameFile(fi, opened) {
		return taskstate.Permanent(fmt.Errorf("program %s: %s was replaced while it was being opened", program, ArtifactDirEnv))
	}
	d, err := root.Open(".")
	if err != nil {
		return fmt.Errorf("program %s: %s: %w", program, ArtifactDirEnv, err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("program %s: read %s: %w", program, ArtifactDirEnv, err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	w := taskstate.Artifacts(ctx)
	for i, e := range entries {
		a, err := storeFile(w, program, root, e.Name())
		if errors.Is(err, taskstate.ErrNoAttempt) && i == 0 {
			// Called directly, not by a Runner: there is nowhere to put them.
			log.Warn("artifacts not stored: the program runs outside a worker's attempt", zap.Int("files", len(entries)))
			return nil
		}
		if err != nil {
			return err
		}
		log.Debug("artifact stored", zap.String("name", a.Name), zap.Int64("size", a.Size), zap.String("sha256", a.SHA256))
	}
	return nil
}

func storeFile(w taskstate.ArtifactWriter, program string, root *os.Root, name string) (taskstate.Artifact, error) {
	bad := func(why string) error {
		return taskstate.Permanent(fmt.Errorf("program %s: %s %q: %s: only regular files are stored as artifacts", program, ArtifactDirEnv, name, why))
	}
	if err := taskstate.ValidateArtifactName(name); err != nil {
		return taskstate.Artifact{}, taskstate.Permanent(fmt.Errorf("program %s: %s: %w", program, ArtifactDirEnv, err))
	}
	before, err := root.Lstat(name)
	if err != nil {
		return taskstate.Artifact{}, fmt.Errorf("program %s: %s: %w", program, ArtifactDirEnv, err)
	}
	switch mode := before.Mode(); {
	case mode&os.ModeSymlink != 0:
		return taskstate.Artifact{}, bad("a symbolic link")
	case mode.IsDir():
		return taskstate.Artifact{}, bad("a directory")
	case !mode.IsRegular():
		return taskstate.Artifact{}, bad("not a regular file (" + mode.Type().String() + ")")
	}
	f, err := root.Open(name)
	if err != nil {
		return taskstate.Artifact{}, fmt.Errorf("program %s: %s: %w", program, ArtifactDirEnv, err)
	}
	defer f.Close()
	after, err := f.Stat()
	if err != nil {
		return taskstate.Artifact{}, fmt.Errorf("program %s: %s: %w", program, ArtifactDirEnv, err)
	}
	if !os.SameFile(before, after) {
		return taskstate.Artifact{}, bad("replaced while it was being opened")
	}
	a, err := w.Put(name, f)
	if err != nil {
		return taskstate.Artifact{}, fmt.Errorf("program %s: store artifact %q: %w", program, name, err)
	}
	return a, nil
}
