package collect

import (
	"context"
	"fmt"
	"slices"
)

// Collection is what a collector returns: Qlib's {key: things} dict. Values are
// anything: a *Frame, a nested Collection, a metric, a raw TaskResult.
//
// PoolCollector returns {(artifact,): {task key: value}}; processors then turn
// each top-level value into something else, for example RollingGroup turns the
// inner Collection into {group key: *Frame}.
type Collection map[Key]any

// Keys returns the keys of c in Key.Compare order.
func (c Collection) Keys() []Key { return sortedKeys(c) }

func sortedKeys[V any](m map[Key]V) []Key {
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, Key.Compare)
	return keys
}

// Collector collects results into a Collection. Implementations apply their own
// process list before returning (Qlib's Collector.__call__).
type Collector interface {
	Collect(ctx context.Context) (Collection, error)
}

// CollectorFunc adapts a function to the Collector interface.
type CollectorFunc func(ctx context.Context) (Collection, error)

// Collect calls f(ctx).
func (f CollectorFunc) Collect(ctx context.Context) (Collection, error) { return f(ctx) }

// Processor transforms one top-level value of a Collection. Group, RollingGroup
// and the ensembles are processors.
type Processor interface {
	Process(ctx context.Context, v any) (any, error)
}

// ProcessorFunc adapts a function to the Processor interface.
type ProcessorFunc func(ctx context.Context, v any) (any, error)

// Process calls f(ctx, v).
func (f ProcessorFunc) Process(ctx context.Context, v any) (any, error) { return f(ctx, v) }

// Process is Qlib's Collector.process_collect: for each top-level key of c it
// applies the processors in order, each to the previous one's output, and
// returns {key: processed value}. c is not modified. A nil processor is an error
// (Qlib raises NotImplementedError for a non-callable one).
func Process(ctx context.Context, c Collection, procs ...Processor) (Collection, error) {
	for i, p := range procs {
		if p == nil {
			return nil, fmt.Errorf("collect: processor %d is nil: %w", i, ErrNotConfigured)
		}
	}
	out := make(Collection, len(c))
	for _, k := range c.Keys() {
		v := c[k]
		for i, p := range procs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			var err error
			if v, err = p.Process(ctx, v); err != nil {
				return nil, fmt.Errorf("collect: process %s with processor %d: %w", k, i, err)
			}
		}
		out[k] = v
	}
	return out, nil
}

// MergeCollector is Qlib's MergeCollector: it runs each named collector (with
// its own processing) and merges the results into one Collection. The key of a
// merged value is MergeFunc(name, key), or by default the collector's name
// prepended to the key: collector "A" returning {("pred",): v} gives
// {("A", "pred"): v}. When two merged keys collide, the later collector in name
// order wins.
type MergeCollector struct {
	// Collectors maps a name to a collector. They run one after another in
	// name order.
	Collectors map[string]Collector

	// MergeFunc builds the merged key. Defaults to prepending name to key.
	MergeFunc func(name string, key Key) Key

	// Process is applied to the merged Collection, as Process does.
	Process []Processor
}

// Collect implements Collector.
func (m *MergeCollector) Collect(ctx context.Context) (Collection, error) {
	names := make([]string, 0, len(m.Collectors))
	for name := range m.Collectors {
		names = append(names, name)
	}
	slices.Sort(names)
	merged := make(Collection)
	for _, name := range names {
		c := m.Collectors[name]
		if c == nil {
			return nil, fmt.Errorf("collect: merge: collector %q is nil: %w", name, ErrNotConfigured)
		}
		got, err := c.Collect(ctx)
		if err != nil {
			return nil, fmt.Errorf("collect: merge: collector %q: %w", name, err)
		}
		for k, v := range got {
			if m.MergeFunc != nil {
				merged[m.MergeFunc(name, k)] = v
			} else {
				merged[StrKey(name).Concat(k)] = v
			}
		}
	}
	return Process(ctx, merged, m.Process...)
}
