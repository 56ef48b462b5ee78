package rolling

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// path resolves a file name from the config against the config's directory.
func (c *GenConfig) path(name string) string {
	if filepath.IsAbs(name) || c.dir == "" {
		return name
	}
	return filepath.Join(c.dir, name)
}

// BuildCalendar loads or builds the calendar the config describes. Errors
// wrap ErrInvalidConfig; a bad line of a calendar or holidays file is
// reported with that file's name and line.
func (c *GenConfig) BuildCalendar() (*Calendar, error) {
	if err := c.validateCalendar(); err != nil {
		return nil, err
	}
	cc := c.Calendar
	var (
		cal *Calendar
		err error
	)
	if cc.File != "" {
		name := c.path(cc.File)
		if _, serr := os.Stat(name); serr != nil {
			return nil, c.errAt([]any{"calendar", "file"}, unwrapPathError(serr))
		}
		if cal, err = LoadCalendar(name); err != nil {
			return nil, err
		}
	} else {
		start, _ := ParseDate(cc.Start)
		end, _ := ParseDate(cc.End)
		var holidays []time.Time
		for _, h := range cc.Holidays {
			d, _ := ParseDate(h)
			holidays = append(holidays, d)
		}
		if cc.HolidaysFile != "" {
			name := c.path(cc.HolidaysFile)
			if _, serr := os.Stat(name); serr != nil {
				return nil, c.errAt([]any{"calendar", "holidays_file"}, unwrapPathError(serr))
			}
			more, err := LoadDates(name)
			if err != nil {
				return nil, err
			}
			holidays = append(holidays, more...)
		}
		if cal, err = BusinessDays(start, end, holidays); err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				err = ce.Err
			}
			return nil, c.errAt([]any{"calendar"}, err)
		}
	}
	if cc.LastDataDay != "" {
		t, _ := ParseDate(cc.LastDataDay)
		if cal, err = cal.WithLastDataDay(t); err != nil {
			return nil, c.errAt([]any{"calendar", "last_data_day"}, err)
		}
	}
	return cal, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// BuildGenerators returns the configured generators over cal, in order.
func (c *GenConfig) BuildGenerators(cal *Calendar) ([]Generator, error) {
	gens := make([]Generator, 0, len(c.Generators))
	for i, gc := range c.Generators {
		if err := c.validateGenerator(i); err != nil {
			return nil, err
		}
		switch gc.Type {
		case TypeRolling:
			gens = append(gens, gc.rollingGen(cal))
		case TypeMultiHorizon:
			mh := &MultiHorizonGen{Calendar: cal, Horizons: gc.Horizons, LabelLeakN: DefaultLabelLeakN,
				Set: gc.Set, TestKey: gc.TestKey, SegmentsPath: gc.SegmentsPath}
			if gc.LabelLeakN != nil {
				mh.LabelLeakN = *gc.LabelLeakN
			}
			gens = append(gens, mh)
		}
	}
	return gens, nil
}

// rollingGen returns the RollingGen of a validated rolling config.
func (gc GeneratorConfig) rollingGen(cal *Calendar) *RollingGen {
	rg := &RollingGen{Calendar: cal, Type: RollType(gc.RType), TestKey: gc.TestKey, TrainKey: gc.TrainKey,
		SegmentsPath: gc.SegmentsPath, ClipTestEnd: gc.ClipTestEnd}
	if gc.Step != nil {
		rg.Step, rg.Period = gc.Step.Days, gc.Step.Period
	}
	if gc.TruncDays != nil {
		rg.TruncDays = *gc.TruncDays
	}
	if gc.HandlerMod != nil && !*gc.HandlerMod {
		rg.NoDatasetMod = true
	}
	return rg
}

// Build generates the task documents: the templates expanded by the
// generators (Qlib's task_generator), with dates as "2006-01-02" strings and
// open ends as nil. Errors wrap ErrInvalidConfig and point at the config
// line of the offending value, e.g. "config.yaml:14:
// tasks[0].dataset.kwargs.segments.test[0]: rolling: date outside the
// calendar: 2030-01-02 is after the calendar's last day 2020-12-31".
func (c *GenConfig) Build() ([]map[string]any, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.FollowingUntil != "" {
		end, _ := ParseDate(c.FollowingUntil)
		return c.Following(NormalizeTasks(c.Tasks), end)
	}
	var gens []Generator
	if len(c.Generators) > 0 {
		cal, err := c.BuildCalendar()
		if err != nil {
			return nil, err
		}
		if gens, err = c.BuildGenerators(cal); err != nil {
			return nil, err
		}
	}
	tasks, err := Generate(c.Tasks, gens...)
	if err != nil {
		return nil, c.generateError(err)
	}
	return NormalizeTasks(tasks), nil
}

// generateError points a Generate error at the template's line.
func (c *GenConfig) generateError(err error) error {
	var ge *GenerateError
	if !errors.As(err, &ge) {
		return &ConfigError{File: c.file, Err: err}
	}
	var pe *PathError
	if errors.As(ge.Err, &pe) {
		path := append([]any{"tasks", ge.Template}, templatePath(c.Tasks[ge.Template], pe.Path)...)
		return c.errAt(path, pe.Err)
	}
	var ce *ConfigError
	if errors.As(ge.Err, &ce) && ge.Generator >= 0 {
		return c.errAt([]any{"generators", ge.Generator}, ce)
	}
	return c.errAt([]any{"tasks", ge.Template}, ge.Err)
}

// SegmentsPath returns the segments path of the first generator that sets
// one, or DefaultSegmentsPath: the path WriteTable needs.
func (c *GenConfig) SegmentsPath() string {
	for _, g := range c.Generators {
		if g.SegmentsPath != "" {
			return g.SegmentsPath
		}
	}
	return DefaultSegmentsPath
}

// Following generates the rolling tasks that follow existing tasks up to
// end with the config's rolling generator: Qlib's
// RollingStrategy.prepare_tasks (see RollingGen.Following). The caller
// fetches the existing task definitions, for example from the pool. The
// config must have exactly one rolling generator. The result is normalized
// like Build's.
func (c *GenConfig) Following(existing []map[string]any, end time.Time) ([]map[string]any, error) {
	return c.following(existing, end, false)
}

// FollowingClosed is Following with RollingGen.CloseOpen: a latest task with
// an open test end is also returned closed up to its successor, so that a
// pool rolled forward predicts every day once.
func (c *GenConfig) FollowingClosed(existing []map[string]any, end time.Time) ([]map[string]any, error) {
	return c.following(existing, end, true)
}

func (c *GenConfig) following(existing []map[string]any, end time.Time, closeOpen bool) ([]map[string]any, error) {
	idx, err := c.rollingIndex("following")
	if err != nil {
		return nil, err
	}
	if err := c.validateGenerator(idx); err != nil {
		return nil, err
	}
	cal, err := c.BuildCalendar()
	if err != nil {
		return nil, err
	}
	rg := c.Generators[idx].rollingGen(cal)
	rg.CloseOpen = closeOpen
	tasks, err := rg.Following(existing, end)
	if err != nil {
		if c.FollowingUntil != "" { // existing are the templates: point at them
			return nil, c.generateError(err)
		}
		return nil, err
	}
	return NormalizeTasks(tasks), nil
}
