package rolling

import (
	"fmt"
	"slices"
	"strings"
)

// Validate checks the configuration without reading any file. Errors wrap
// ErrInvalidConfig and, for a config read from a file, name the file and
// line.
func (c *GenConfig) Validate() error {
	if len(c.Tasks) == 0 {
		return c.errorf([]any{"tasks"}, "at least one task template is required")
	}
	for i, t := range c.Tasks {
		if t == nil {
			return c.errorf([]any{"tasks", i}, "want a task map, got null")
		}
	}
	if len(c.Generators) > 0 || !c.Calendar.isZero() {
		if err := c.validateCalendar(); err != nil {
			return err
		}
	}
	for i := range c.Generators {
		if err := c.validateGenerator(i); err != nil {
			return err
		}
	}
	if c.FollowingUntil != "" {
		if _, err := ParseDate(c.FollowingUntil); err != nil {
			return c.errAt([]any{"following_until"}, err)
		}
		if _, err := c.rollingIndex("following_until"); err != nil {
			return err
		}
	}
	return nil
}

// rollingIndex returns the index of the config's single rolling generator;
// what names the feature that needs it in the error.
func (c *GenConfig) rollingIndex(what string) (int, error) {
	idx := -1
	for i, g := range c.Generators {
		if g.Type != TypeRolling {
			continue
		}
		if idx >= 0 {
			return 0, c.errorf([]any{"generators", i}, "%s needs exactly one rolling generator, found another at generators[%d]", what, idx)
		}
		idx = i
	}
	if idx < 0 {
		at := []any{"generators"}
		if c.Generators == nil {
			at = []any{"following_until"}
		}
		return 0, c.errorf(at, "%s needs exactly one rolling generator, found 0", what)
	}
	return idx, nil
}

func (cc CalendarConfig) isZero() bool {
	return cc.File == "" && cc.Start == "" && cc.End == "" && cc.Holidays == nil && cc.HolidaysFile == "" && cc.LastDataDay == ""
}

func (c *GenConfig) validateCalendar() error {
	cc := c.Calendar
	at := func(k string) []any { return []any{"calendar", k} }
	if cc.File != "" {
		for k, set := range map[string]bool{"start": cc.Start != "", "end": cc.End != "", "holidays": cc.Holidays != nil, "holidays_file": cc.HolidaysFile != ""} {
			if set {
				return c.errorf(at(k), "not allowed with calendar.file")
			}
		}
	} else {
		if cc.Start == "" || cc.End == "" {
			return c.errorf([]any{"calendar"}, "set calendar.file, or calendar.start and calendar.end")
		}
		start, err := ParseDate(cc.Start)
		if err != nil {
			return c.errAt(at("start"), err)
		}
		end, err := ParseDate(cc.End)
		if err != nil {
			return c.errAt(at("end"), err)
		}
		if end.Before(start) {
			return c.errorf(at("end"), "%s is before calendar.start %s", cc.End, cc.Start)
		}
		for i, h := range cc.Holidays {
			if _, err := ParseDate(h); err != nil {
				return c.errAt([]any{"calendar", "holidays", i}, err)
			}
		}
	}
	if cc.LastDataDay != "" {
		if _, err := ParseDate(cc.LastDataDay); err != nil {
			return c.errAt(at("last_data_day"), err)
		}
	}
	return nil
}

func (c *GenConfig) validateGenerator(i int) error {
	g := c.Generators[i]
	at := func(k ...any) []any { return append([]any{"generators", i}, k...) }
	var notFor []string // fields set that belong to the other type
	switch g.Type {
	case TypeRolling:
		if g.Step != nil {
			if err := g.Step.Err(); err != nil {
				return c.errAt(at("step"), err)
			}
		}
		switch RollType(g.RType) {
		case "", Expanding, Sliding:
		default:
			return c.errorf(at("rtype"), "unknown roll type %q: want %q or %q", g.RType, Expanding, Sliding)
		}
		if g.TruncDays != nil && *g.TruncDays < 1 {
			return c.errorf(at("trunc_days"), "must be ≥ 1, got %d (omit trunc_days to disable truncation)", *g.TruncDays)
		}
		if g.Horizons != nil {
			notFor = append(notFor, "horizons")
		}
		if g.LabelLeakN != nil {
			notFor = append(notFor, "label_leak_n")
		}
		if g.Set != nil {
			notFor = append(notFor, "set")
		}
	case TypeMultiHorizon:
		for j, h := range g.Horizons {
			if h <= 0 {
				return c.errorf(at("horizons", j), "must be > 0, got %d", h)
			}
		}
		if g.Horizons != nil && len(g.Horizons) == 0 {
			return c.errorf(at("horizons"), "at least one horizon is required (omit horizons for the default [5])")
		}
		if g.LabelLeakN != nil && *g.LabelLeakN < 0 {
			return c.errorf(at("label_leak_n"), "must be ≥ 0, got %d", *g.LabelLeakN)
		}
		for _, p := range sortedKeys(g.Set) {
			if err := checkDottedPath(p); err != nil {
				return c.errAt(at("set", p), err)
			}
		}
		for k, set := range map[string]bool{"step": g.Step != nil, "rtype": g.RType != "", "trunc_days": g.TruncDays != nil,
			"train_key": g.TrainKey != "", "handler_mod": g.HandlerMod != nil, "clip_test_end": g.ClipTestEnd} {
			if set {
				notFor = append(notFor, k)
			}
		}
	case "":
		return c.errorf(at(), "missing type: want %q or %q", TypeRolling, TypeMultiHorizon)
	default:
		return c.errorf(at("type"), "unknown generator type %q: want %q or %q", g.Type, TypeRolling, TypeMultiHorizon)
	}
	if len(notFor) > 0 {
		slices.Sort(notFor)
		return c.errorf(at(notFor[0]), "not a setting of a %s generator", g.Type)
	}
	if g.SegmentsPath != "" {
		if err := checkDottedPath(g.SegmentsPath); err != nil {
			return c.errAt(at("segments_path"), err)
		}
	}
	return nil
}

// checkDottedPath rejects empty paths and empty path elements.
func checkDottedPath(p string) error {
	for _, part := range strings.Split(p, ".") {
		if part == "" {
			return fmt.Errorf("bad path %q: empty element", p)
		}
	}
	return nil
}
