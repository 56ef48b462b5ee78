package job

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/taskfleet/taskfleet/pkg/rolling"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// following returns the specs of the windows that follow the pool's latest
// windows up to c.Until, group by group (Qlib's
// RollingStrategy.prepare_tasks, per model), each latest window with an
// open test end closed up to its successor (see
// rolling.GenConfig.FollowingClosed), and whether the pool has any
// task of the config's kind: without one the run generates from the
// templates.
func (c *Config) following(ctx context.Context, m *taskstate.Manager) ([]taskstate.TaskSpec, bool, error) {
	until, err := rolling.ParseDate(c.Until)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s: until: %v", ErrInvalidConfig, c.File, err)
	}
	var (
		order  []string
		groups = map[string][]map[string]any{}
	)
	q := taskstate.Query{}.Where(taskstate.FieldKind, taskstate.OpEq, c.Kind)
	for t, err := range m.Query(ctx, q, taskstate.QueryOptions{}) {
		if err != nil {
			return nil, false, err
		}
		g, err := c.groupOf(t.Filter)
		if err != nil {
			return nil, false, fmt.Errorf("task %s: %w", t.ID, err)
		}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], t.Filter)
	}
	if len(order) == 0 {
		return nil, false, nil
	}
	var docs []map[string]any
	for _, g := range order {
		more, err := c.Gen.FollowingClosed(groups[g], until)
		if err != nil {
			return nil, true, fmt.Errorf("roll group %s forward: %w", g, err)
		}
		docs = append(docs, more...)
	}
	specs, err := c.specsOf(docs)
	return specs, true, err
}

// groupOf returns a def's group: the values of the collect key without its
// last element (the rolling window), as JSON.
func (c *Config) groupOf(def map[string]any) (string, error) {
	key := c.Collect.Key[:len(c.Collect.Key)-1]
	vals := make([]any, len(key))
	for i, p := range key {
		vals[i], _ = rolling.GetPath(def, p)
	}
	b, err := json.Marshal(vals)
	return string(b), err
}
