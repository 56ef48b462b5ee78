package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/yamlpos"
	"github.com/taskfleet/taskfleet/pkg/rolling"
)

// Qrun describes the Qlib workflow config (the YAML of Qlib's qrun) a
// Config was read from.
type Qrun struct {
	// TopLevel are the file's keys besides task and taskfleet (qlib_init,
	// market, benchmark, data_handler_config, port_analysis_config, ...).
	// The defs do not carry them, except where task refers to them through
	// aliases.
	TopLevel []string
	// KeptInDefs are the dotted paths inside task that taskfleet does not
	// read (model, record, the handler's kwargs but end_time, ...): every
	// def carries them for the program.
	KeptInDefs []string

	file string
	pos  *yamlpos.File
}

// pointAt points an error of the run config the file stands for at the
// file (see qrunErr); a nil q (a run config) returns err as it is.
func (q *Qrun) pointAt(err error) error {
	if q == nil {
		return err
	}
	return qrunErr(err, q.pos, q.file)
}

// LogUnused lists, at debug level, the Qlib keys taskfleet does not use.
func (c *Config) LogUnused(log *zap.Logger) {
	if c.Qrun == nil || log == nil {
		return
	}
	log.Debug("qlib workflow config: keys taskfleet does not read", zap.String("file", c.File),
		zap.Strings("top_level", c.Qrun.TopLevel), zap.Strings("kept_in_defs", c.Qrun.KeptInDefs))
}

// detectQrun reports whether the document is a Qlib workflow config to run
// here: one with a taskfleet: section. A qrun file without one is an error
// saying what to add.
func detectQrun(pos *yamlpos.File, file string) (bool, error) {
	keys := map[string]int{}
	for _, k := range yamlpos.Keys(pos.Body()) {
		keys[k.Name] = k.Line
	}
	_, section := keys["taskfleet"]
	_, task := keys["task"]
	_, init := keys["qlib_init"]
	if !section && task && init {
		return false, &FieldError{File: file, Line: keys["task"], Path: yamlpos.Path{"task"},
			Err: errors.New("a Qlib workflow config runs here with a taskfleet: section added (pool, calendar, generators, kind, programs, collect; see examples/qlib/workflow_config_lightgbm_Alpha158.yaml)")}
	}
	return section, nil
}

// sectionKeys are the keys of a taskfleet: section: those of a run config
// but tasks, which is the file's task.
func sectionKeys() []string {
	var keys []string
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" && tag != "tasks" {
			keys = append(keys, tag)
		}
	}
	slices.Sort(keys)
	return keys
}

// parseQrun reads a Qlib workflow config (qrun's YAML: qlib_init, market,
// benchmark, data_handler_config, port_analysis_config, anchors and aliases,
// one task: with model, dataset and record) with a taskfleet: section
// holding the keys of a run config:
//
//	taskfleet:
//	  pool: alpha158
//	  calendar: {start: 2007-12-03, end: 2020-08-31}
//	  generators: [{type: rolling, step: 250}]
//	  kind: train
//	  programs: {train: {command: [python3, train.py]}}
//
// The template is Qlib's task dict, aliases expanded; the generators roll
// its segments as they roll any template, and each def is that dict with
// its segments (and handler end_time) rewritten. Errors name the file, the
// line and the path in the file (taskfleet.generators[0].step,
// task.dataset.kwargs.segments.test).
func parseQrun(data []byte, pos *yamlpos.File, file string) (*Config, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlErr(file, pos, err)
	}
	bad := func(p yamlpos.Path, format string, args ...any) error {
		return &FieldError{File: file, Line: pos.Line(p), Path: p, Err: fmt.Errorf(format, args...)}
	}
	task, ok := doc["task"].(map[string]any)
	if !ok {
		return nil, bad(yamlpos.Path{"task"}, "want Qlib's task: a map with model, dataset and record")
	}
	for _, k := range []string{"model", "dataset"} {
		if _, ok := task[k].(map[string]any); !ok {
			return nil, bad(yamlpos.Path{"task", k}, "want a map (Qlib's {class, module_path, kwargs})")
		}
	}
	section, ok := doc["taskfleet"].(map[string]any)
	if !ok {
		return nil, bad(yamlpos.Path{"taskfleet"}, "want a map of run config keys (pool, calendar, generators, kind, programs, collect)")
	}
	known := sectionKeys()
	for _, k := range yamlpos.Keys(pos.Node(yamlpos.Path{"taskfleet"})) {
		if k.Name == "tasks" {
			return nil, &FieldError{File: file, Line: k.Line, Path: yamlpos.Path{"taskfleet", k.Name},
				Err: errors.New("the task template is the file's task:, not a list here")}
		}
		if !slices.Contains(known, k.Name) {
			return nil, &FieldError{File: file, Line: k.Line, Path: yamlpos.Path{"taskfleet", k.Name},
				Err: fmt.Errorf("unknown key (want %s)", strings.Join(known, ", "))}
		}
	}
	run := maps.Clone(section)
	run["tasks"] = []any{task}
	synth, err := json.Marshal(run) // JSON is YAML: the run config this file stands for
	if err != nil {
		return nil, bad(nil, "%v", err)
	}
	cfg, err := Parse(synth, file)
	if err != nil {
		return nil, qrunErr(err, pos, file)
	}
	segs := rolling.DefaultSegmentsPath
	if cfg.Gen != nil {
		segs = cfg.Gen.SegmentsPath()
	}
	cfg.Qrun = &Qrun{file: file, pos: pos, KeptInDefs: unreadPaths(task, "", []string{segs, "dataset.kwargs.handler.kwargs.end_time"})}
	for k := range doc {
		if k != "task" && k != "taskfleet" {
			cfg.Qrun.TopLevel = append(cfg.Qrun.TopLevel, k)
		}
	}
	slices.Sort(cfg.Qrun.TopLevel)
	return cfg, nil
}

// qrunErr points an error of the run config a qrun file stands for at the
// file: run config path p is taskfleet.p, and tasks[0].p is task.p.
func qrunErr(err error, pos *yamlpos.File, file string) error {
	remap := func(p yamlpos.Path) yamlpos.Path {
		if len(p) >= 2 && p[0] == "tasks" && p[1] == 0 {
			return yamlpos.Path{"task"}.Append(p[2:]...)
		}
		return yamlpos.Path{"taskfleet"}.Append(p...)
	}
	var fe *FieldError
	if errors.As(err, &fe) && fe.File == file {
		p := remap(fe.Path)
		return &FieldError{File: file, Line: pos.Line(p), Path: p, Err: fe.Err}
	}
	var ce *rolling.ConfigError
	if errors.As(err, &ce) && ce.File == file {
		p := remap(yamlpos.ParsePath(ce.Path))
		return &rolling.ConfigError{File: file, Line: pos.Line(p), Path: p.String(), Err: ce.Err}
	}
	return err
}

// unreadPaths returns the dotted paths of m, in order, that are neither one
// of read nor hold one: the parts of a task taskfleet passes through.
func unreadPaths(m map[string]any, prefix string, read []string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		p := prefix + k
		switch {
		case slices.Contains(read, p):
		case slices.ContainsFunc(read, func(r string) bool { return strings.HasPrefix(r, p+".") }):
			if sub, ok := m[k].(map[string]any); ok {
				out = append(out, unreadPaths(sub, p+".", read)...)
			}
		default:
			out = append(out, p)
		}
	}
	return out
}

// IsRunConfig reports whether data is what Parse reads, a run config (a
// pool: key) or a Qlib workflow config (task: or taskfleet:), rather than a
// bare generation config (calendar, tasks, generators). A document that
// does not parse is not: the generation config's parser reports why.
func IsRunConfig(data []byte) bool {
	pos, err := yamlpos.Parse(data)
	if err != nil {
		return false
	}
	for _, k := range yamlpos.Keys(pos.Body()) {
		if k.Name == "pool" || k.Name == "task" || k.Name == "taskfleet" {
			return true
		}
	}
	return false
}
