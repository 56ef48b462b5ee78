package collect

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// TaskFiles opens the stored files (artifacts) of one finished task.
type TaskFiles interface {
	// OpenFile returns a reader of the named file and its size in bytes
	// (-1 when unknown); the caller closes it. A file the task does not
	// have is an error wrapping ErrMissingArtifact.
	OpenFile(ctx context.Context, name string) (io.ReadCloser, int64, error)
}

// files returns the files that may hold artifact art.
func (c *PoolCollector) files(art string) []string {
	if c.Files != nil {
		return c.Files[art]
	}
	if art == "pred" {
		return []string{"pred.parquet", "pred.csv"}
	}
	return nil
}

// artifact returns the artifact art of tr: read from the first of its files
// the task has, or else taken from tr.Result.
func (c *PoolCollector) artifact(ctx context.Context, tr TaskResult, art string) (any, bool, error) {
	if tr.Files != nil {
		for _, name := range c.files(art) {
			rc, size, err := tr.Files.OpenFile(ctx, name)
			if errors.Is(err, ErrMissingArtifact) {
				continue
			}
			if err != nil {
				return nil, false, fmt.Errorf("collect: task %s: open %s: %w", tr.ID, name, err)
			}
			o := c.Read
			o.Name = name
			f, err := ReadFrame(ctx, rc, size, o)
			if cerr := rc.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("collect: %s: read: %w", name, cerr)
			}
			if err != nil {
				return nil, false, fmt.Errorf("collect: task %s: %w", tr.ID, err)
			}
			return f, true, nil
		}
	}
	v, ok := tr.Result[art]
	return v, ok, nil
}
