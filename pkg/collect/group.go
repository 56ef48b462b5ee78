package collect

import (
	"context"
	"fmt"

	"github.com/sourcegraph/conc/iter"
)

// Group splits a Collection into groups and reduces each group with an Ensemble
// (Qlib's Group): the result is {group key: Ensemble.Combine(group)}.
type Group struct {
	// GroupFunc splits the collection into groups. Required.
	GroupFunc func(c Collection) (map[Key]Collection, error)

	// Ensemble reduces each group. Required.
	Ensemble Ensemble

	// Concurrency is how many groups are reduced at once (Qlib's n_jobs).
	// Defaults to 1.
	Concurrency int
}

// Apply groups c and reduces every group. The first error wins.
func (g Group) Apply(ctx context.Context, c Collection) (Collection, error) {
	if g.GroupFunc == nil {
		return nil, fmt.Errorf("group: GroupFunc is nil: %w", ErrNotConfigured)
	}
	if g.Ensemble == nil {
		return nil, fmt.Errorf("group: Ensemble is nil: %w", ErrNotConfigured)
	}
	grouped, err := g.GroupFunc(c)
	if err != nil {
		return nil, fmt.Errorf("group: %w", err)
	}
	return reduceGroups(ctx, grouped, g.Ensemble, g.Concurrency)
}

// Process implements Processor: v must be a Collection.
func (g Group) Process(ctx context.Context, v any) (any, error) {
	c, err := collectionOf(v)
	if err != nil {
		return nil, fmt.Errorf("group: %w", err)
	}
	return g.Apply(ctx, c)
}

func reduceGroups(ctx context.Context, grouped map[Key]Collection, ens Ensemble, concurrency int) (Collection, error) {
	order := sortedKeys(grouped)
	m := iter.Mapper[Key, any]{MaxGoroutines: max(concurrency, 1)}
	reduced, err := m.MapErr(order, func(k *Key) (any, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, err := ens.Combine(grouped[*k])
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", *k, err)
		}
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	out := make(Collection, len(order))
	for i, k := range order {
		out[k] = reduced[i]
	}
	return out, nil
}

// RollingGroup groups the windows of each rolling series and stitches them
// (Qlib's RollingGroup): a key's last element is taken to be the rolling window
// and the other elements name the series, so {(A, B, R1): x, (A, B, R2): y}
// becomes {(A, B): Ensemble({(R1,): x, (R2,): y})}. A key with one element goes
// to the group of the empty key (). An empty key is ErrBadKey.
type RollingGroup struct {
	// Ensemble reduces each group. Defaults to RollingEnsemble{}.
	Ensemble Ensemble

	// Concurrency is how many groups are reduced at once. Defaults to 1.
	Concurrency int
}

// GroupByPrefix is RollingGroup's grouping: it groups the keys by all but their
// last element, and keys each member by its last element.
func GroupByPrefix(c Collection) (map[Key]Collection, error) {
	grouped := make(map[Key]Collection)
	for k, v := range c {
		n := k.Len()
		if n == 0 {
			return nil, fmt.Errorf("%w: rolling group needs a key with at least one element, got ()", ErrBadKey)
		}
		prefix := k.Slice(0, n-1)
		g := grouped[prefix]
		if g == nil {
			g = make(Collection)
			grouped[prefix] = g
		}
		g[k.Slice(n-1, n)] = v
	}
	return grouped, nil
}

// Apply groups c by key prefix and reduces every group.
func (g RollingGroup) Apply(ctx context.Context, c Collection) (Collection, error) {
	ens := g.Ensemble
	if ens == nil {
		ens = RollingEnsemble{}
	}
	return Group{GroupFunc: GroupByPrefix, Ensemble: ens, Concurrency: g.Concurrency}.Apply(ctx, c)
}

// Process implements Processor: v must be a Collection.
func (g RollingGroup) Process(ctx context.Context, v any) (any, error) {
	c, err := collectionOf(v)
	if err != nil {
		return nil, fmt.Errorf("rolling group: %w", err)
	}
	return g.Apply(ctx, c)
}
