package rolling

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/taskfleet/taskfleet/internal/yamlpos"
)

// Generator types of GeneratorConfig.Type.
const (
	// TypeRolling selects a RollingGen.
	TypeRolling = "rolling"
	// TypeMultiHorizon selects a MultiHorizonGen.
	TypeMultiHorizon = "multi_horizon"
)

// GenConfig is the task generation part of a configuration file: the
// calendar, the task templates and the generators. It is the whole file of
// "dispatcher gen -f CONFIG", and the same three top-level keys inside the
// larger file of "dispatcher run".
//
//	calendar:
//	  file: calendar.txt          # or start/end/holidays/holidays_file
//	  last_data_day: 2021-06-30   # optional
//	tasks:
//	  - model: {class: LGBModel}
//	    dataset:
//	      kwargs:
//	        handler: {class: Alpha158, kwargs: {end_time: 2020-12-31}}
//	        segments:
//	          train: [2019-01-01, 2019-12-31]
//	          valid: [2020-01-01, 2020-03-31]
//	          test: [2020-04-01, null]
//	generators:
//	  - {type: rolling, step: 40, rtype: sliding, trunc_days: 2}
//	  - {type: multi_horizon, horizons: [5, 10], label_leak_n: 2}
type GenConfig struct {
	// Calendar is the trading calendar. Required when there are generators.
	Calendar CalendarConfig `yaml:"calendar"`

	// Tasks are the task templates: Qlib task dicts with model, dataset and
	// record. At least one is required.
	Tasks []map[string]any `yaml:"tasks"`

	// Generators expand the templates, in order (Qlib's task_generator).
	// Defaults to none: the templates are the tasks.
	Generators []GeneratorConfig `yaml:"generators"`

	// FollowingUntil, when set, makes the templates already generated
	// tasks: Build returns only the tasks that follow them up to this test
	// end with the single rolling generator (Qlib's gen_following_tasks; see
	// Following). A date after the last data day means the last data day.
	// Defaults to none: Build expands the templates.
	FollowingUntil string `yaml:"following_until"`

	file string        // the config file name, for error messages
	dir  string        // the directory relative paths are resolved against
	pos  *yamlpos.File // the parsed file, to find the line of a value
}

// CalendarConfig describes the trading calendar: either a file, or business
// days between two dates minus holidays.
type CalendarConfig struct {
	// File is a calendar file: one date per line (Qlib's
	// calendars/day.txt), or CSV with a header that has a "date" column.
	// A relative path is resolved against the config file's directory.
	// Exclusive with Start, End, Holidays and HolidaysFile.
	File string `yaml:"file"`

	// Start is the first day of a business-day calendar (Monday to
	// Friday). Required, with End, when File is empty.
	Start string `yaml:"start"`

	// End is the last day of a business-day calendar, inclusive.
	End string `yaml:"end"`

	// Holidays are dates removed from a business-day calendar. Defaults to
	// none.
	Holidays []string `yaml:"holidays"`

	// HolidaysFile is a file of holidays in the calendar file format,
	// added to Holidays. A relative path is resolved against the config
	// file's directory. Defaults to none.
	HolidaysFile string `yaml:"holidays_file"`

	// LastDataDay is the last day with data (Qlib's non-future calendar
	// end): an open or later test end stops rolling there. It is aligned to
	// the last trading day on or before it. Defaults to the calendar's last
	// day.
	LastDataDay string `yaml:"last_data_day"`
}

// GeneratorConfig configures one generator. Type selects it; the other
// fields apply to the types noted on them, and setting a field of the other
// type is an error.
type GeneratorConfig struct {
	// Type is "rolling" (RollingGen) or "multi_horizon" (MultiHorizonGen).
	// Required.
	Type string `yaml:"type"`

	// Step (rolling) is the rolling step: a number of trading days (40) or
	// a calendar period such as 1W, 1M, 1Q or 1Y (see Period; not in Qlib).
	// Defaults to 40.
	Step *StepSpec `yaml:"step"`

	// RType (rolling) is "expanding" or "sliding". Defaults to "expanding".
	RType string `yaml:"rtype"`

	// TruncDays (rolling) truncates the non-test segments to end at least
	// this many trading days before the test start; must be ≥ 1. Defaults
	// to no truncation.
	TruncDays *int `yaml:"trunc_days"`

	// TestKey (both types) is the key of the test segment. Defaults to
	// "test".
	TestKey string `yaml:"test_key"`

	// TrainKey (rolling) is the key of the segment that expands. Defaults to
	// "train".
	TrainKey string `yaml:"train_key"`

	// HandlerMod (rolling) turns the default handler modification
	// (HandlerMod: extend dataset.kwargs.handler.kwargs.end_time to the test
	// end) on or off. Defaults to true.
	HandlerMod *bool `yaml:"handler_mod"`

	// ClipTestEnd (rolling) clips the last test window to the test end (not
	// in Qlib). Defaults to false.
	ClipTestEnd bool `yaml:"clip_test_end"`

	// Horizons (multi_horizon) are the prediction horizons, one task each.
	// Defaults to [5].
	Horizons []int `yaml:"horizons"`

	// LabelLeakN (multi_horizon) is Qlib's label_leak_n: segments are
	// truncated to horizon + label_leak_n trading days before the test
	// start. Defaults to 2.
	LabelLeakN *int `yaml:"label_leak_n"`

	// Set (multi_horizon) maps dotted task paths to values with "{h}",
	// "{h+N}" or "{h-N}" placeholders for the horizon (see
	// MultiHorizonGen.Set); quote them in YAML, where "{" starts a map.
	// Defaults to none.
	Set map[string]any `yaml:"set"`

	// SegmentsPath (both types) is the dotted path of the segments in a
	// task. Defaults to "dataset.kwargs.segments".
	SegmentsPath string `yaml:"segments_path"`
}

// StepSpec is a rolling step as written in a config: a number of trading
// days (step: 40) or a calendar period (step: 1M).
type StepSpec struct {
	// Days is the step in trading days; 0 when Period is set.
	Days int
	// Period is the calendar-aware step; zero when Days is set.
	Period Period

	err error // why the value is not a valid step
}

// UnmarshalYAML implements yaml.InterfaceUnmarshaler. It never fails:
// an invalid step is reported by Validate, with its position.
func (s *StepSpec) UnmarshalYAML(unmarshal func(any) error) error {
	var v any
	if err := unmarshal(&v); err != nil {
		return err
	}
	*s = ParseStep(v)
	return nil
}

// MarshalYAML implements yaml.InterfaceMarshaler.
func (s StepSpec) MarshalYAML() (any, error) {
	if !s.Period.IsZero() {
		return s.Period.String(), nil
	}
	return s.Days, nil
}

// String formats the step as "40" or "1M".
func (s StepSpec) String() string {
	if !s.Period.IsZero() {
		return s.Period.String()
	}
	return strconv.Itoa(s.Days)
}

// Err reports why the step is invalid, or nil.
func (s StepSpec) Err() error { return s.err }

var daysRe = regexp.MustCompile(`^[+-]?\d+[dD]?$`)

// ParseStep parses a step value: an integer number of trading days (also
// as a string, optionally with a "d" suffix) or a period string such as
// "1M". An invalid value is reported by the result's Err.
func ParseStep(v any) StepSpec {
	var s StepSpec
	switch v := v.(type) {
	case int:
		s.Days = v
	case int64:
		s.Days = int(v)
	case uint64:
		if v > 1<<31 {
			s.err = fmt.Errorf("step %d is too large", v)
			return s
		}
		s.Days = int(v)
	case string:
		str := strings.TrimSpace(v)
		if daysRe.MatchString(str) {
			n, err := strconv.Atoi(strings.TrimRight(str, "dD"))
			if err != nil {
				s.err = fmt.Errorf("bad step %q", v)
				return s
			}
			s.Days = n
			break
		}
		p, err := ParsePeriod(str)
		if err != nil {
			s.err = fmt.Errorf("bad step %q: want a number of trading days or a period such as 1W or 1M", v)
			return s
		}
		s.Period = p
		return s
	default:
		s.err = fmt.Errorf("bad step %v: want a number of trading days or a period such as 1W or 1M", v)
		return s
	}
	if s.Days <= 0 {
		s.err = fmt.Errorf("must be > 0, got %d", s.Days)
	}
	return s
}

// LoadGenConfig reads a generation config file strictly, as "dispatcher
// gen" does: unknown keys are errors at every level. Errors wrap
// ErrInvalidConfig and name the file and line.
func LoadGenConfig(path string) (*GenConfig, error) {
	data, err := yamlpos.ReadFile(path, 0)
	if err != nil {
		return nil, fileError(path, err)
	}
	return ParseGenConfig(data, path, true)
}

// ParseGenConfig parses and validates a generation config. filename is used
// in error messages and to resolve relative calendar paths. With strict
// false, unknown top-level keys are ignored, so the calendar, tasks and
// generators keys can sit in a larger file (the "dispatcher run" config,
// with pool, dataset, collect, ...); unknown keys inside calendar and
// generators are errors either way. Errors wrap ErrInvalidConfig and name
// the file and line, e.g. "config.yaml:7: generators[0].step: must be > 0,
// got 0".
func ParseGenConfig(data []byte, filename string, strict bool) (*GenConfig, error) {
	f, err := yamlpos.Parse(data)
	if err != nil {
		return nil, yamlError(filename, err, nil)
	}
	c := &GenConfig{}
	if err := yaml.UnmarshalWithOptions(data, c); err != nil {
		return nil, yamlError(filename, err, f)
	}
	c.file, c.dir, c.pos = filename, filepath.Dir(filename), f
	if body := f.Body(); body != nil {
		if err := c.checkKeys(body, strict); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// yamlError converts a YAML error into a *ConfigError with its line and,
// when f is given and holds the offending token, its path in the document.
func yamlError(filename string, err error, f *yamlpos.File) error {
	tk, msg, ok := yamlpos.ErrorToken(err)
	if !ok {
		return &ConfigError{File: filename, Err: err}
	}
	ce := &ConfigError{File: filename, Err: errors.New(msg)}
	if tk != nil && tk.Position != nil {
		ce.Line = tk.Position.Line
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && tk != nil {
		ce.Err = fmt.Errorf("want %s, got %q", typeName(te.DstType), tk.Value)
	}
	if path, ok := f.PathOf(tk); ok {
		ce.Path = path.String()
	}
	return ce
}

// typeName describes a Go type for a config error.
func typeName(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a map"
	}
	return t.String()
}

// yamlKeys returns the YAML keys of a struct type's fields.
func yamlKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" {
			keys[tag] = true
		}
	}
	return keys
}

var (
	topKeys       = yamlKeys(reflect.TypeFor[GenConfig]())
	calendarKeys  = yamlKeys(reflect.TypeFor[CalendarConfig]())
	generatorKeys = yamlKeys(reflect.TypeFor[GeneratorConfig]())
)

// checkKeys reports unknown keys: at the top level when strict, and always
// inside calendar and each generator.
func (c *GenConfig) checkKeys(body ast.Node, strict bool) error {
	check := func(n ast.Node, known map[string]bool, prefix yamlpos.Path) error {
		for _, k := range yamlpos.Keys(n) {
			if !known[k.Name] {
				return &ConfigError{File: c.file, Line: k.Line, Path: prefix.Append(k.Name).String(),
					Err: fmt.Errorf("unknown key %q", k.Name)}
			}
		}
		return nil
	}
	if strict {
		if err := check(body, topKeys, nil); err != nil {
			return err
		}
	}
	if err := check(c.pos.Node(yamlpos.Path{"calendar"}), calendarKeys, yamlpos.Path{"calendar"}); err != nil {
		return err
	}
	for i := range c.Generators {
		at := yamlpos.Path{"generators", i}
		if err := check(c.pos.Node(at), generatorKeys, at); err != nil {
			return err
		}
	}
	return nil
}

// errAt returns a *ConfigError for the value at path.
func (c *GenConfig) errAt(path yamlpos.Path, err error) error {
	return &ConfigError{File: c.file, Line: c.pos.Line(path), Path: path.String(), Err: err}
}

func (c *GenConfig) errorf(path yamlpos.Path, format string, args ...any) error {
	return c.errAt(path, fmt.Errorf(format, args...))
}

// templatePath converts a dotted path inside a template into path elements,
// turning the numeric parts that index lists into ints.
func templatePath(tpl map[string]any, dotted string) []any {
	var out []any
	var cur any = tpl
	for _, part := range strings.Split(dotted, ".") {
		switch c := cur.(type) {
		case map[string]any:
			out = append(out, part)
			cur = c[part]
		case []any:
			if i, err := strconv.Atoi(part); err == nil {
				out = append(out, i)
				if i >= 0 && i < len(c) {
					cur = c[i]
				} else {
					cur = nil
				}
				continue
			}
			out = append(out, part)
			cur = nil
		default:
			if i, err := strconv.Atoi(part); err == nil {
				out = append(out, i)
			} else {
				out = append(out, part)
			}
			cur = nil
		}
	}
	return out
}
