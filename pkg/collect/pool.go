package collect

import (
	"context"
	"fmt"
	"iter"
	"reflect"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// RawArtifact is the artifact name that yields the TaskResult itself instead of
// one of its artifacts (Qlib's RecorderCollector.ART_KEY_RAW).
const RawArtifact = "__raw"

// TaskResult is one finished task as a Source yields it.
type TaskResult struct {
	// ID is the task id.
	ID string
	// Def is the task definition as a document (Qlib's task dict).
	Def map[string]any
	// Result holds the task's artifacts by name, for example "pred" → *Frame.
	Result map[string]any
	// Files opens the task's stored files; nil when the source keeps none.
	// PoolCollector reads an artifact from them before looking in Result.
	Files TaskFiles
}

// Source yields finished tasks. A task store is adapted to it; collect never
// imports a store. The order of the sequence defines which of two tasks with the
// same key is "later" (usually creation order). A non-nil error ends the
// collection.
type Source interface {
	DoneTasks(ctx context.Context) iter.Seq2[TaskResult, error]
}

// SourceFunc adapts a function to the Source interface.
type SourceFunc func(ctx context.Context) iter.Seq2[TaskResult, error]

// DoneTasks calls f(ctx).
func (f SourceFunc) DoneTasks(ctx context.Context) iter.Seq2[TaskResult, error] { return f(ctx) }

// PoolCollector is Qlib's RecorderCollector over a task pool: it reads every
// finished task from Source and returns {(artifact,): {task key: artifact
// value}}, then applies Process.
//
// An artifact appears in the result only when at least one task has it, as in
// Qlib. When two tasks have the same key, the later one overwrites the earlier
// and a warning is logged.
type PoolCollector struct {
	// Source yields the finished tasks. Required.
	Source Source

	// KeyPaths are dotted paths into TaskResult.Def whose values form the task
	// key, for example "model.class" and "dataset.kwargs.segments.test". A
	// path segment that is an integer indexes a list ("segments.test.0").
	// Defaults to the task id alone (Qlib's rec.info["id"]).
	KeyPaths []string

	// KeyFunc computes the task key. When set it is used instead of KeyPaths.
	KeyFunc func(TaskResult) (Key, error)

	// FilterFunc keeps a task when it returns true. It runs before the key is
	// computed. Defaults to keeping every task.
	FilterFunc func(TaskResult) bool

	// Artifacts are the names of the artifacts to collect. RawArtifact yields
	// the TaskResult itself. Defaults to {"pred"} (Qlib's artifacts_path
	// {"pred": "pred.pkl"}).
	Artifacts []string

	// Files maps an artifact to the stored files that may hold it, tried in
	// order (Qlib's artifacts_path): the first one a task has is read with
	// ReadFrame; a task with none of them falls back to TaskResult.Result.
	// Defaults to {"pred": {"pred.parquet", "pred.csv"}}.
	Files map[string][]string

	// Read bounds the files read; its Name is set to each file's.
	Read ReadOptions

	// OnlyExist skips a task that lacks an artifact (logged at debug level)
	// instead of failing with ErrMissingArtifact. Qlib's collect defaults
	// only_exist to True; here the zero value is the strict one, so a handler
	// that forgot an artifact is noticed.
	OnlyExist bool

	// Process is applied to the collected Collection, as Process does.
	Process []Processor

	// Logger receives the duplicate-key warnings and a summary. Defaults to a
	// no-op logger.
	Logger *zap.Logger
}

// Collect implements Collector.
func (c *PoolCollector) Collect(ctx context.Context) (Collection, error) {
	raw, err := c.collect(ctx)
	if err != nil {
		return nil, err
	}
	return Process(ctx, raw, c.Process...)
}

func (c *PoolCollector) collect(ctx context.Context) (Collection, error) {
	if c.Source == nil {
		return nil, fmt.Errorf("collect: pool collector: Source is nil: %w", ErrNotConfigured)
	}
	log := c.Logger
	if log == nil {
		log = zap.NewNop()
	}
	artifacts := c.Artifacts
	if len(artifacts) == 0 {
		artifacts = []string{"pred"}
	}

	out := make(Collection)
	// owner remembers which task set each (artifact, key) so a duplicate can
	// name both tasks.
	owner := make(map[[2]Key]string)
	var seen, kept int
	for tr, err := range c.Source.DoneTasks(ctx) {
		if err != nil {
			return nil, fmt.Errorf("collect: read finished tasks: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		seen++
		if c.FilterFunc != nil && !c.FilterFunc(tr) {
			continue
		}
		kept++
		key, err := c.key(tr)
		if err != nil {
			return nil, fmt.Errorf("collect: task %s: key: %w", tr.ID, err)
		}
		for _, art := range artifacts {
			var v any
			if art == RawArtifact {
				v = tr
			} else {
				var ok bool
				if v, ok, err = c.artifact(ctx, tr, art); err != nil {
					return nil, err
				}
				if !ok {
					if c.OnlyExist {
						log.Debug("task lacks artifact; skipped",
							zap.String("task_id", tr.ID), zap.String("artifact", art))
						continue
					}
					where := ""
					if files := c.files(art); tr.Files != nil && len(files) > 0 {
						where = fmt.Sprintf(" (no %s, and none in its result)", strings.Join(files, " or "))
					}
					return nil, fmt.Errorf("collect: task %s: artifact %q%s: %w", tr.ID, art, where, ErrMissingArtifact)
				}
			}
			artKey := StrKey(art)
			inner, _ := out[artKey].(Collection)
			if inner == nil {
				inner = make(Collection)
				out[artKey] = inner
			}
			ok := [2]Key{artKey, key}
			if prev, dup := owner[ok]; dup {
				log.Warn("duplicate task key; the later task overwrites the earlier one",
					zap.Stringer("key", key), zap.String("artifact", art),
					zap.String("task_id", tr.ID), zap.String("previous_task_id", prev))
			}
			owner[ok] = tr.ID
			inner[key] = v
		}
	}
	log.Debug("collected finished tasks", zap.Int("tasks", seen), zap.Int("after_filter", kept))
	return out, nil
}

func (c *PoolCollector) key(tr TaskResult) (Key, error) {
	if c.KeyFunc != nil {
		return c.KeyFunc(tr)
	}
	if len(c.KeyPaths) == 0 {
		return StrKey(tr.ID), nil
	}
	parts := make([]any, len(c.KeyPaths))
	for i, p := range c.KeyPaths {
		v, err := LookupPath(tr.Def, p)
		if err != nil {
			return Key{}, err
		}
		parts[i] = v
	}
	return NewKey(parts...)
}

// LookupPath resolves a dotted path such as "dataset.kwargs.segments.test" in a
// document made of maps with string keys and slices or arrays: a segment looks
// up a map key, or, on a slice, parses as an index. A path that does not resolve
// returns an error wrapping ErrPathNotFound that names the path and the segment
// where it stopped.
func LookupPath(doc any, path string) (any, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty path", ErrPathNotFound)
	}
	cur := doc
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		at := strings.Join(segs[:i+1], ".")
		switch node := cur.(type) {
		case map[string]any:
			v, ok := node[seg]
			if !ok {
				return nil, fmt.Errorf("%w: %s", ErrPathNotFound, at)
			}
			cur = v
			continue
		case []any:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || idx >= len(node) {
				return nil, fmt.Errorf("%w: %s: no index %q in a list of %d", ErrPathNotFound, at, seg, len(node))
			}
			cur = node[idx]
			continue
		}
		rv := reflect.ValueOf(cur)
		switch rv.Kind() {
		case reflect.Map:
			if rv.Type().Key().Kind() != reflect.String {
				return nil, fmt.Errorf("%w: %s: map keys are %s, not strings", ErrPathNotFound, at, rv.Type().Key())
			}
			v := rv.MapIndex(reflect.ValueOf(seg).Convert(rv.Type().Key()))
			if !v.IsValid() {
				return nil, fmt.Errorf("%w: %s", ErrPathNotFound, at)
			}
			cur = v.Interface()
		case reflect.Slice, reflect.Array:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || idx >= rv.Len() {
				return nil, fmt.Errorf("%w: %s: no index %q in a list of %d", ErrPathNotFound, at, seg, rv.Len())
			}
			cur = rv.Index(idx).Interface()
		default:
			parent := "the document"
			if i > 0 {
				parent = strings.Join(segs[:i], ".")
			}
			return nil, fmt.Errorf("%w: %s: %s is a %T, not a map or list", ErrPathNotFound, at, parent, cur)
		}
	}
	return cur, nil
}
