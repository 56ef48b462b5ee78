package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("artifacts", "list the artifacts of a task: name, size, sha256, attempt", cmdArtifacts)
	register("artifact", "write one artifact of a task to stdout or a file (-O)", cmdArtifact)
}

// artifactJSON is one artifact in `artifacts -o json`.
type artifactJSON struct {
	Name      string    `json:"name"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	Attempt   int       `json:"attempt"`
	CreatedAt time.Time `json:"created_at"`
}

// parseTask parses the common flags plus --id and extra, and checks the id.
func (m *Main) parseTask(name, summary string, args []string, id *string, extra func(fs *cli.FlagSet)) (*env, error) {
	e, err := m.parse(name, summary, args, func(fs *cli.FlagSet) {
		fs.StringVar(id, "id", "", "", "the task id (24 hex digits; required)")
		if extra != nil {
			extra(fs)
		}
	})
	if err != nil {
		return nil, err
	}
	switch {
	case len(e.pos) > 0:
		return nil, cli.Usagef("%s: unexpected argument %q (give the task with --id)", name, e.pos[0])
	case *id == "":
		return nil, cli.Usagef("%s: --id is required", name)
	case !taskstate.ValidID(*id):
		return nil, cli.Usagef("--id: task id %q: want 24 hex digits", *id)
	}
	return e, nil
}

func cmdArtifacts(ctx context.Context, m *Main, args []string) error {
	var id string
	e, err := m.parseTask("artifacts", "List the artifacts of the task --id: the files its committed attempt stored, with their\nsize, SHA-256 and attempt. -o json prints a list for scripts.", args, &id, nil)
	if err != nil {
		return err
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	// The task first: an unknown id is an error, not an empty list.
	if _, err := e.app.Manager.Get(ctx, id); err != nil {
		return err
	}
	arts, err := e.app.Manager.Artifacts(ctx, id)
	if err != nil {
		return err
	}
	if e.json() {
		out := make([]artifactJSON, len(arts))
		for i, a := range arts {
			out[i] = artifactJSON{Name: a.Name, Size: a.Size, SHA256: a.SHA256, Attempt: a.Attempt, CreatedAt: a.CreatedAt}
		}
		return cli.WriteJSON(m.Stdout, out)
	}
	t := cli.NewTable(m.Stdout, "NAME", "SIZE", "SHA256", "ATTEMPT", "CREATED")
	for _, a := range arts {
		t.Row(a.Name, a.Size, a.SHA256, a.Attempt, a.CreatedAt.Format(time.RFC3339))
	}
	return t.Flush()
}

func cmdArtifact(ctx context.Context, m *Main, args []string) error {
	var id, name, file string
	e, err := m.parseTask("artifact", "Write the artifact --name of the task --id to stdout, or to the file -O, streamed.\nThe file appears only once it is complete and its SHA-256 checked.", args, &id, func(fs *cli.FlagSet) {
		fs.StringVar(&name, "name", "", "", "the artifact's name (required)")
		fs.StringVar(&file, "O", "", "", "write to this file instead of stdout (replaced only when complete)")
	})
	if err != nil {
		return err
	}
	if name == "" {
		return cli.Usagef("artifact: --name is required")
	}
	if err := taskstate.ValidateArtifactName(name); err != nil {
		return cli.Usagef("--name: %v", err)
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	copyTo := func(w io.Writer) error {
		h := sha256.New()
		a, err := e.app.Manager.CopyArtifact(ctx, id, name, io.MultiWriter(w, h))
		if errors.Is(err, taskstate.ErrArtifactNotFound) {
			if _, gerr := e.app.Manager.Get(ctx, id); gerr != nil {
				return gerr // the task itself is unknown
			}
			return fmt.Errorf("task %s in pool %s has no artifact %q (see dispatcher artifacts --id %s)", id, e.c.Pool, name, id)
		}
		if err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != a.SHA256 {
			return fmt.Errorf("artifact %q of task %s: read back with SHA-256 %s, stored as %s", name, id, got, a.SHA256)
		}
		return nil
	}
	if file == "" || file == "-" {
		return copyTo(m.Stdout)
	}
	return writeFileAtomic(file, copyTo)
}

// writeFileAtomic writes path through fill into a temporary file next to
// it, then renames it into place: on any error path is left as it was.
func writeFileAtomic(path string, fill func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("-O %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := fill(tmp); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("-O %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("-O %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("-O %s: %w", path, err)
	}
	return nil
}
