package rolling

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
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

	file string    // the config file name, for error messages
	dir  string    // the directory relative paths are resolved against
	ast  *ast.File // the parsed file, to find the line of a value
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
	data, err := os.ReadFile(path)
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
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(filename, err, nil)
	}
	c := &GenConfig{}
	if err := yaml.UnmarshalWithOptions(data, c); err != nil {
		return nil, yamlError(filename, err, f)
	}
	c.file, c.dir, c.ast = filename, filepath.Dir(filename), f
	if len(f.Docs) > 0 && f.Docs[0] != nil {
		if err := c.checkKeys(f.Docs[0].Body, strict); err != nil {
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
func yamlError(filename string, err error, f *ast.File) error {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return &ConfigError{File: filename, Err: err}
	}
	ce := &ConfigError{File: filename, Err: errors.New(ye.GetMessage())}
	tk := ye.GetToken()
	if tk != nil && tk.Position != nil {
		ce.Line = tk.Position.Line
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && tk != nil {
		ce.Err = fmt.Errorf("want %s, got %q", typeName(te.DstType), tk.Value)
	}
	if f != nil && tk != nil {
		for _, doc := range f.Docs {
			if path, ok := findToken(doc.Body, tk, nil); ok {
				ce.Path = renderPath(path)
				break
			}
		}
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

// findToken returns the path of the node holding tk.
func findToken(n ast.Node, tk *token.Token, path []any) ([]any, bool) {
	if n == nil {
		return nil, false
	}
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, mv := range n.Values {
			if p, ok := findToken(mv, tk, path); ok {
				return p, true
			}
		}
		if samePos(n.GetToken(), tk) {
			return path, true
		}
	case *ast.MappingValueNode:
		key := n.Key.GetToken()
		if key == nil {
			return nil, false
		}
		p := append(slices.Clip(path), key.Value)
		if samePos(key, tk) {
			return p, true
		}
		return findToken(n.Value, tk, p)
	case *ast.SequenceNode:
		for i, v := range n.Values {
			if p, ok := findToken(v, tk, append(slices.Clip(path), i)); ok {
				return p, true
			}
		}
		if samePos(n.GetToken(), tk) {
			return path, true
		}
	case *ast.AnchorNode:
		return findToken(n.Value, tk, path)
	case *ast.TagNode:
		return findToken(n.Value, tk, path)
	default:
		if samePos(n.GetToken(), tk) {
			return path, true
		}
	}
	return nil, false
}

func samePos(a, b *token.Token) bool {
	return a != nil && b != nil && a.Position != nil && b.Position != nil &&
		a.Position.Line == b.Position.Line && a.Position.Column == b.Position.Column
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

// mappingValues returns the key/value pairs of a mapping node.
func mappingValues(n ast.Node) []*ast.MappingValueNode {
	switch n := n.(type) {
	case *ast.MappingNode:
		return n.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{n}
	case *ast.AnchorNode:
		return mappingValues(n.Value)
	case *ast.TagNode:
		return mappingValues(n.Value)
	}
	return nil
}

// checkKeys reports unknown keys: at the top level when strict, and always
// inside calendar and each generator.
func (c *GenConfig) checkKeys(body ast.Node, strict bool) error {
	check := func(n ast.Node, known map[string]bool, prefix []any) error {
		for _, mv := range mappingValues(n) {
			tk := mv.Key.GetToken()
			if tk == nil || tk.Value == "<<" {
				continue
			}
			if !known[tk.Value] {
				return &ConfigError{File: c.file, Line: tk.Position.Line, Path: renderPath(append(prefix, tk.Value)),
					Err: fmt.Errorf("unknown key %q", tk.Value)}
			}
		}
		return nil
	}
	if strict {
		if err := check(body, topKeys, nil); err != nil {
			return err
		}
	}
	if err := check(c.node([]any{"calendar"}), calendarKeys, []any{"calendar"}); err != nil {
		return err
	}
	for i := range c.Generators {
		if err := check(c.node([]any{"generators", i}), generatorKeys, []any{"generators", i}); err != nil {
			return err
		}
	}
	return nil
}

// node returns the AST node at path, or nil.
func (c *GenConfig) node(path []any) ast.Node {
	if c.ast == nil {
		return nil
	}
	p, err := yaml.PathString(yamlPathString(path))
	if err != nil {
		return nil
	}
	n, err := p.FilterFile(c.ast)
	if err != nil {
		return nil
	}
	return n
}

// lineOf returns the line of the value at path, or of its closest ancestor
// present in the file; 0 when unknown.
func (c *GenConfig) lineOf(path []any) int {
	for i := len(path); i > 0; i-- {
		if n := c.node(path[:i]); n != nil {
			if tk := n.GetToken(); tk != nil && tk.Position != nil {
				return tk.Position.Line
			}
		}
	}
	return 0
}

// errAt returns a *ConfigError for the value at path.
func (c *GenConfig) errAt(path []any, err error) error {
	return &ConfigError{File: c.file, Line: c.lineOf(path), Path: renderPath(path), Err: err}
}

func (c *GenConfig) errorf(path []any, format string, args ...any) error {
	return c.errAt(path, fmt.Errorf(format, args...))
}

var plainKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// yamlPathString renders a path as a goccy YAML path: $.a.b[0].'c.d'.
func yamlPathString(path []any) string {
	var b strings.Builder
	b.WriteString("$")
	for _, p := range path {
		switch p := p.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(p) + "]")
		case string:
			if plainKeyRe.MatchString(p) {
				b.WriteString("." + p)
			} else {
				b.WriteString(".'" + strings.ReplaceAll(p, "'", "''") + "'")
			}
		}
	}
	return b.String()
}

// renderPath renders a path for messages: generators[0].step.
func renderPath(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(p) + "]")
		case string:
			if b.Len() > 0 {
				b.WriteString(".")
			}
			b.WriteString(p)
		}
	}
	return b.String()
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
	return nil
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
	if errors.As(ge.Err, &ce) {
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
	var idx []int
	for i, g := range c.Generators {
		if g.Type == TypeRolling {
			idx = append(idx, i)
		}
	}
	if len(idx) != 1 {
		return nil, c.errorf([]any{"generators"}, "following needs exactly one rolling generator, found %d", len(idx))
	}
	if err := c.validateGenerator(idx[0]); err != nil {
		return nil, err
	}
	cal, err := c.BuildCalendar()
	if err != nil {
		return nil, err
	}
	tasks, err := c.Generators[idx[0]].rollingGen(cal).Following(existing, end)
	if err != nil {
		return nil, err
	}
	return NormalizeTasks(tasks), nil
}
