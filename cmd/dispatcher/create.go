package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// DefaultCreateBatch is the number of tasks per Create call of `create`:
// large enough that the store's per-transaction cost is spread thin, small
// enough that a batch's specs and ids stay a few MB.
const DefaultCreateBatch = 5000

// maxCreateBatch bounds --batch.
const maxCreateBatch = 1_000_000

const createSummary = `Create tasks from -f FILE, a JSON or YAML list of {kind, def, priority, max_attempts}.
Prints the ids in input order; existing tasks keep their id.

The file is read once, entry by entry, and created in batches of --batch as it is read, so memory does
not grow with its length. Limits (each names the flag that raises it): --max-file-size, --max-tasks,
--max-entry-size, --max-depth, --max-nodes. An error in the file (or a def over the payload cap) exits
2 naming the file, the line and the entry. A batch is created whole or not at all: a file of at most
--batch entries creates nothing on an error; for a longer one the batches before the error are created
by then, and the message says how many tasks: creating is idempotent (a task's kind and def are its key), so running the fixed
file again creates only the rest. --dry-run reads and validates the whole file and creates nothing.`

func cmdCreate(ctx context.Context, m *Main, args []string) error {
	var (
		file   string
		dryRun bool
		batch  int
		lim    cli.TaskFileLimits
		maxB   string
		gcPct  int
	)
	e, err := m.parse("create", createSummary, args, func(fs *cli.FlagSet) {
		fs.StringVar(&file, "f", "", "", "task file (JSON or YAML list); - reads stdin")
		fs.BoolVar(&dryRun, "dry-run", "", false, "report which tasks are new without creating them")
		fs.IntVar(&batch, "batch", "", DefaultCreateBatch, "tasks per store transaction")
		fs.StringVar(&maxB, "max-file-size", "", strconv.Itoa(cli.DefaultMaxTaskFileBytes), "refuse a task file larger than this many bytes")
		fs.IntVar(&lim.MaxEntries, "max-tasks", "", cli.DefaultMaxEntries, "refuse a task file of more entries")
		fs.IntVar(&lim.MaxEntryBytes, "max-entry-size", "", 0, fmt.Sprintf("refuse an entry longer than this many bytes (0: %d for JSON, %d for YAML, whose parser takes about 40 times the text)", cli.DefaultMaxEntryBytes, cli.DefaultMaxYAMLEntryBytes))
		fs.IntVar(&lim.MaxDepth, "max-depth", "", cli.DefaultMaxDepth, "refuse an entry nested deeper")
		fs.IntVar(&lim.MaxNodes, "max-nodes", "", 4<<20, "refuse a YAML entry of more nodes once its aliases are expanded")
		cli.RegisterGCPercent(fs, &gcPct)
	})
	if err != nil {
		return err
	}
	if file == "" {
		return cli.Usagef("-f: a task file is required")
	}
	// The heap is two batches at most, whatever the file's length: a
	// higher target costs a few tens of MB and saves the collector's
	// share of a core the single writer needs (docs/BENCHMARKS.md).
	if _, err := cli.ApplyGCPercent(m.Getenv, gcPct, e.fs.Where("gc-percent")); err != nil {
		return err
	}
	if lim.MaxBytes, err = strconv.ParseInt(maxB, 10, 64); err != nil || lim.MaxBytes < 1 {
		return cli.Usagef("%s: want a positive number of bytes, got %q", e.fs.Where("max-file-size"), maxB)
	}
	for _, f := range []struct {
		name string
		v    int
		most int
	}{{"batch", batch, maxCreateBatch}, {"max-tasks", lim.MaxEntries, 1 << 40}, {"max-entry-size", max(lim.MaxEntryBytes, 1), 1 << 40},
		{"max-depth", lim.MaxDepth, 100_000}, {"max-nodes", lim.MaxNodes, 1 << 40}} {
		if f.v < 1 || f.v > f.most {
			return cli.Usagef("%s: must be from 1 to %d, got %d", e.fs.Where(f.name), f.most, f.v)
		}
	}
	in, name := m.Stdin, "stdin"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return cli.Usagef("-f: %v", err)
		}
		defer f.Close()
		in, name = f, file
	}
	if in == nil {
		in = strings.NewReader("")
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	c := &creator{m: e.app.Manager, name: name, dryRun: dryRun, json: e.json(), out: bufio.NewWriterSize(m.Stdout, 64<<10), kinds: map[string]struct{}{}}
	if dryRun {
		c.seen = map[[16]byte]struct{}{}
	}
	err = c.run(ctx, cli.NewTaskReader(in, name, lim), batch)
	if ferr := c.out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	if !dryRun {
		e.warnUnserved(ctx, slices.Sorted(maps.Keys(c.kinds)))
	}
	verb := "created"
	if dryRun {
		verb = "would create"
	}
	fmt.Fprintf(e.notes(), "%d tasks, %s %d new in pool %s\n", c.total, verb, c.created, e.c.Pool)
	return nil
}

// creator creates the batches of a task file as they are read.
type creator struct {
	m      *taskstate.Manager
	name   string
	dryRun bool
	json   bool
	out    *bufio.Writer // its errors are sticky: the final Flush reports them

	total, created int
	kinds          map[string]struct{}   // the kinds created, for the warning about unserved ones
	seen           map[[16]byte]struct{} // --dry-run: the keys reported new, across batches
	ids            []string              // --dry-run -o json
	news           []bool
}

type readBatch struct {
	entries  []cli.TaskEntry
	prepared *taskstate.PreparedBatch
	err      error
}

// run reads and prepares batches (decode, validate, encode, key) on one
// goroutine while the previous batch is inserted on this one: the store's
// single writer is kept busy, and three batches are in memory at most.
func (c *creator) run(ctx context.Context, tr *cli.TaskReader, size int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan readBatch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for {
			b, err := tr.ReadBatch(make([]cli.TaskEntry, 0, size), size)
			if errors.Is(err, io.EOF) {
				err = nil
			}
			rb := readBatch{entries: b, err: err}
			if err == nil {
				specs := make([]taskstate.TaskSpec, len(b))
				for i, e := range b {
					specs[i] = e.Spec
				}
				rb.prepared, rb.err = c.m.Prepare(specs)
			}
			select {
			case ch <- rb:
			case <-ctx.Done():
				return
			}
			if err != nil || len(b) < size {
				return
			}
		}
	}()
	defer func() { cancel(); <-done }()
	if c.json && !c.dryRun {
		_, _ = c.out.WriteString("[")
	}
	for b := range ch {
		if b.err != nil { // a batch is created whole or not at all
			return c.fail(b.err, b.entries)
		}
		if len(b.entries) > 0 {
			for _, e := range b.entries {
				c.kinds[e.Spec.Kind] = struct{}{}
			}
			res, err := c.m.CreatePrepared(ctx, b.prepared, taskstate.CreateOptions{DryRun: c.dryRun})
			if err != nil {
				return c.fail(err, b.entries)
			}
			c.write(b.entries, res)
		}
	}
	switch {
	case c.json && c.dryRun:
		return cli.WriteJSON(c.out, map[string]any{"ids": c.ids, "new": c.news})
	case c.json && c.total == 0:
		_, _ = c.out.WriteString("]\n")
	case c.json:
		_, _ = c.out.WriteString("\n]\n")
	}
	return nil
}

func (c *creator) write(entries []cli.TaskEntry, res taskstate.CreateResult) {
	for i, id := range res.IDs {
		isNew := res.New[i]
		if c.dryRun && isNew {
			isNew = c.firstSeen(entries[i].Spec)
		}
		switch {
		case c.json && c.dryRun:
			c.ids, c.news = append(c.ids, id), append(c.news, isNew)
		case c.json:
			if c.total+i > 0 {
				_, _ = c.out.WriteString(",")
			}
			_, _ = c.out.WriteString("\n  ")
			b, _ := json.Marshal(id)
			_, _ = c.out.Write(b)
		case c.dryRun && isNew:
			_, _ = c.out.WriteString("new\n")
		default:
			_, _ = c.out.WriteString(id + "\n")
		}
		if isNew {
			c.created++
		}
	}
	c.total += len(res.IDs)
}

// firstSeen reports whether spec, new to the store, is also new to this
// dry run: an earlier batch would have created it.
func (c *creator) firstSeen(s taskstate.TaskSpec) bool {
	def, err := json.Marshal(s.Def) // maps marshal with sorted keys
	if err != nil {
		return true
	}
	h := sha256.New()
	h.Write([]byte(s.Kind))
	h.Write([]byte{0})
	h.Write(def)
	var k [16]byte
	copy(k[:], h.Sum(nil))
	if _, ok := c.seen[k]; ok {
		return false
	}
	c.seen[k] = struct{}{}
	return true
}

// fail explains err, which stopped the file after c.total entries: a
// spec's error names its entry, and the message says what was created.
func (c *creator) fail(err error, entries []cli.TaskEntry) error {
	var se *taskstate.SpecError
	if errors.As(err, &se) && se.Index < len(entries) {
		en := entries[se.Index]
		msg := strings.Replace(se.Err.Error(), fmt.Sprintf("task %d: ", se.Index), "", 1)
		err = cli.Usagef("%s: %s", en.Where(c.name), msg)
	}
	if c.dryRun || c.total == 0 {
		return err
	}
	suffix := fmt.Sprintf("%d tasks created before the error (%d entries read); creating is idempotent, so running the fixed file again creates only the rest", c.created, c.total)
	var ue *cli.UsageError
	if errors.As(err, &ue) {
		return cli.Usagef("%s; %s", ue.Msg, suffix)
	}
	return fmt.Errorf("%w; %s", err, suffix)
}
