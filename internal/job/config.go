package job

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/handlers"
	"github.com/taskfleet/taskfleet/internal/handlers/program"
	"github.com/taskfleet/taskfleet/internal/yamlpos"
	"github.com/taskfleet/taskfleet/pkg/rolling"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// ErrInvalidConfig is wrapped by every configuration error; the message
// names the file and line or the dotted path.
var ErrInvalidConfig = errors.New("invalid job config")

// Bounds of Config.Workers and Config.Concurrency (see package cli).
const (
	MaxWorkers     = cli.MaxWorkers
	MaxConcurrency = cli.MaxConcurrency
)

// Config is a run config file.
type Config struct {
	// Pool is the task pool. Required.
	Pool string `yaml:"pool"`
	// Kind is the task kind of the generated tasks: a built-in kind or a
	// program (of Programs, or registered on the fleet's workers). Default
	// "linear".
	Kind string `yaml:"kind"`
	// Dataset is put into every generated task at dataset.kwargs.data, where
	// the linear kind reads it: {csv: PATH} or {synthetic: {...}}.
	Dataset map[string]any `yaml:"dataset"`
	// MaxAttempts of each task. Default 3; 0 means unlimited.
	MaxAttempts *int `yaml:"max_attempts"`
	// Priority of each task. Default 0.
	Priority int `yaml:"priority"`
	// TwoPhase runs Qlib's DelayTrainerRM flow: a first worker stage commits
	// to part_done, a second stage (from part_done) finishes the tasks.
	TwoPhase bool `yaml:"two_phase"`
	// Workers is the number of in-process workers of the embedded default
	// (ignored with --store/--nats: a fleet works). Default 2, at most
	// MaxWorkers.
	Workers int `yaml:"workers"`
	// Concurrency of each in-process worker. Default 1, at most
	// MaxConcurrency.
	Concurrency int `yaml:"concurrency"`
	// Until makes a run on a pool that already has windows roll it
	// forward (Qlib's OnlineManager routine): for each group (the collect
	// key without its last element, e.g. each model) the window with the
	// latest test segment is followed by the windows up to this test end
	// (a date after the calendar's last data day means that day), and
	// every window of the pool is collected. On an empty pool the run
	// generates from the templates as usual. Overridden by run --until.
	// Defaults to none: the templates are generated every run.
	Until string `yaml:"until"`
	// Collect configures the collection step: every kind's predictions,
	// read from its prediction artifacts (see CollectConfig).
	Collect CollectConfig `yaml:"collect"`
	// Programs are the programs of the in-process workers, from the
	// programs: key, the map of a `worker --programs` file (see package
	// program). On a fleet the workers must register them: see
	// WorkerCommands. Default none.
	Programs []program.Spec `yaml:"-"`

	// Qrun is set when the file is a Qlib workflow config (see ParseQrun).
	Qrun *Qrun `yaml:"-"`

	// Gen is the generation part: calendar, tasks, generators.
	Gen *rolling.GenConfig `yaml:"-"`
	// File is the config's path; Dir its directory.
	File, Dir string `yaml:"-"`

	// The generation keys, validated by package rolling.
	Calendar   any `yaml:"calendar"`
	Tasks      any `yaml:"tasks"`
	Generators any `yaml:"generators"`
	// The programs: key, parsed by package program into Programs.
	RawPrograms any `yaml:"programs"`
}

// CollectConfig configures the collection step (Qlib's RecorderCollector
// with RollingGroup).
type CollectConfig struct {
	// Skip leaves the results in the pool: no collection, no ensemble,
	// for tasks that store no predictions. Default false.
	Skip bool `yaml:"skip"`
	// Key is the dotted paths of the def that make a result's key; the last
	// element is the rolling window. Default [model.class,
	// dataset.kwargs.segments.test].
	Key []string `yaml:"key"`
	// Group is "rolling" (group by all but the last key element and
	// ensemble each group) or "none". Default rolling.
	Group string `yaml:"group"`
	// Ensemble is "rolling" (concatenate windows; on overlap the later
	// window wins) or "average" (mean of per-date z-scores across the
	// groups). Default rolling.
	Ensemble string `yaml:"ensemble"`
	// Output is the file the ensembled predictions are written to, .parquet
	// or .csv, relative to the working directory. Default
	// out/<pool>_pred.parquet.
	Output string `yaml:"output"`
	// Signal is a prediction file (.parquet or .csv, relative to the
	// working directory) kept across runs, as Qlib's prepare_signals does:
	// each collection appends only the ensembled days after the signal's
	// last date, leaving its rows unchanged. Default none.
	Signal string `yaml:"signal"`
	// OverwriteSignal rewrites Signal with the whole ensemble (run
	// --overwrite-signal).
	OverwriteSignal bool `yaml:"-"`
	// OnlyExist skips tasks whose result lacks the pred artifact instead of
	// failing. Default false.
	OnlyExist bool `yaml:"only_exist"`

	// Predictions of any task kind are read from its artifacts.
	//
	// PredArtifacts are the artifact names a task's predictions are read
	// from, tried in order: CSV or Parquet with the columns datetime,
	// instrument, score and optionally label. A task with none of them
	// falls back to the pred frame of its result. Default [pred.parquet,
	// pred.csv].
	PredArtifacts []string `yaml:"pred_artifacts"`
	// LabelFile is a CSV or Parquet file with the columns datetime,
	// instrument and label (a dataset panel will do), relative to the
	// config file. When set, its labels, joined on (datetime, instrument),
	// replace the predictions' own label column for IC. Default none.
	LabelFile string `yaml:"label_file"`
	// MaxArtifactSize bounds each prediction artifact and the label file,
	// in bytes. Default 1073741824 (1 GiB).
	MaxArtifactSize int64 `yaml:"max_artifact_size"`
	// MaxRows bounds the rows of each of them. Default 33554432.
	MaxRows int64 `yaml:"max_rows"`
}

// Load reads and validates a run config.
func Load(path string) (*Config, error) {
	data, err := yamlpos.ReadFile(path, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return Parse(data, path)
}

// Parse parses a run config named file, or a Qlib workflow config with a
// taskfleet: section (see ParseQrun).
func Parse(data []byte, file string) (*Config, error) {
	pos, err := yamlpos.Parse(data)
	if err != nil {
		return nil, yamlErr(file, nil, err)
	}
	if isQrun, err := detectQrun(pos, file); isQrun || err != nil {
		if err != nil {
			return nil, err
		}
		return parseQrun(data, pos, file)
	}
	for _, key := range []string{"priority", "max_attempts", "workers", "concurrency"} {
		if n := pos.Node(yamlpos.Path{key}); n != nil { // the decoder would truncate 1.5 to 1
			if _, err := yamlpos.ExactInt(n); err != nil {
				return nil, &FieldError{File: file, Line: pos.Line(yamlpos.Path{key}), Path: yamlpos.Path{key}, Err: err}
			}
		}
	}
	cfg := &Config{File: file, Dir: filepath.Dir(file)}
	if err := yaml.UnmarshalWithOptions(data, cfg, yaml.Strict()); err != nil {
		return nil, yamlErr(file, pos, err)
	}
	gen, err := rolling.ParseGenConfig(data, file, false)
	if err != nil {
		return nil, err
	}
	cfg.Gen = gen
	bad := func(p yamlpos.Path, format string, args ...any) error {
		return &FieldError{File: file, Line: pos.Line(p), Path: p, Err: fmt.Errorf(format, args...)}
	}
	if cfg.Pool == "" {
		return nil, bad(yamlpos.Path{"pool"}, "required")
	}
	if err := taskstate.ValidatePool(cfg.Pool); err != nil {
		return nil, bad(yamlpos.Path{"pool"}, "%v", err)
	}
	if cfg.Programs, err = program.ParseSection(data, file, "programs", handlers.Reserved()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if cfg.Kind == "" {
		cfg.Kind = "linear"
	}
	if len(cfg.Programs) > 0 && !cfg.knows(cfg.Kind) {
		return nil, bad(yamlpos.Path{"kind"}, "%q is neither a built-in kind (%s) nor a program of programs: (%s)",
			cfg.Kind, strings.Join(handlers.Reserved(), ", "), strings.Join(cfg.programNames(), ", "))
	}
	if cfg.Kind == "linear" && cfg.Dataset == nil {
		return nil, bad(yamlpos.Path{"dataset"}, "required for the linear kind: {csv: PATH} or {synthetic: {start, end, ...}}")
	}
	if cfg.Until != "" {
		if _, err := rolling.ParseDate(cfg.Until); err != nil {
			return nil, bad(yamlpos.Path{"until"}, "%v", err)
		}
	}
	if cfg.MaxAttempts != nil && *cfg.MaxAttempts < 0 {
		return nil, bad(yamlpos.Path{"max_attempts"}, "must be ≥ 0 (0 means unlimited), got %d", *cfg.MaxAttempts)
	}
	if cfg.Workers < 0 || cfg.Workers > MaxWorkers {
		return nil, bad(yamlpos.Path{"workers"}, "must be from 0 to %d (the limit of in-process workers; a larger fleet runs `worker` processes), got %d", MaxWorkers, cfg.Workers)
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.Concurrency < 0 || cfg.Concurrency > MaxConcurrency {
		return nil, bad(yamlpos.Path{"concurrency"}, "must be from 0 to %d (the limit), got %d", MaxConcurrency, cfg.Concurrency)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	c := &cfg.Collect
	if len(c.Key) == 0 {
		c.Key = []string{"model.class", "dataset.kwargs.segments.test"}
	}
	switch c.Group {
	case "":
		c.Group = "rolling"
	case "rolling", "none":
	default:
		return nil, bad(yamlpos.Path{"collect", "group"}, "unknown group %q (want rolling or none)", c.Group)
	}
	switch c.Ensemble {
	case "":
		c.Ensemble = "rolling"
	case "rolling", "average":
	default:
		return nil, bad(yamlpos.Path{"collect", "ensemble"}, "unknown ensemble %q (want rolling or average)", c.Ensemble)
	}
	if c.Output == "" {
		c.Output = filepath.Join("out", cfg.Pool+"_pred.parquet")
	}
	if ext := filepath.Ext(c.Output); ext != ".parquet" && ext != ".csv" {
		return nil, bad(yamlpos.Path{"collect", "output"}, "%q: want a .parquet or .csv file", c.Output)
	}
	if ext := filepath.Ext(c.Signal); c.Signal != "" && ext != ".parquet" && ext != ".csv" {
		return nil, bad(yamlpos.Path{"collect", "signal"}, "%q: want a .parquet or .csv file", c.Signal)
	}
	if err := c.validateFiles(cfg.Dir, bad); err != nil {
		return nil, err
	}
	if csv, ok := cfg.Dataset["csv"].(string); ok && !filepath.IsAbs(csv) {
		cfg.Dataset["csv"] = filepath.Join(cfg.Dir, csv) // relative to the config, like the calendar file
	}
	return cfg, nil
}

// validateFiles checks and defaults the prediction and label file fields.
func (c *CollectConfig) validateFiles(dir string, bad func(yamlpos.Path, string, ...any) error) error {
	if len(c.PredArtifacts) == 0 {
		c.PredArtifacts = []string{"pred.parquet", "pred.csv"}
	}
	for i, name := range c.PredArtifacts {
		p := yamlpos.Path{"collect", "pred_artifacts", i}
		if err := taskstate.ValidateArtifactName(name); err != nil {
			return bad(p, "%v", err)
		}
		if ext := strings.ToLower(filepath.Ext(name)); ext != ".csv" && ext != ".parquet" {
			return bad(p, "%q: want a .csv or .parquet name", name)
		}
	}
	if c.MaxArtifactSize < 0 {
		return bad(yamlpos.Path{"collect", "max_artifact_size"}, "must be ≥ 0 (0 means the default), got %d", c.MaxArtifactSize)
	}
	if c.MaxRows < 0 {
		return bad(yamlpos.Path{"collect", "max_rows"}, "must be ≥ 0 (0 means the default), got %d", c.MaxRows)
	}
	if c.LabelFile != "" && !filepath.IsAbs(c.LabelFile) {
		c.LabelFile = filepath.Join(dir, c.LabelFile) // relative to the config, like the dataset
	}
	return nil
}

// Specs generates the tasks (package rolling) and returns them as task
// specs, with the dataset injected.
func (c *Config) Specs() ([]taskstate.TaskSpec, []map[string]any, error) {
	docs, err := c.Gen.Build()
	if err != nil {
		return nil, nil, c.Qrun.pointAt(err)
	}
	specs, err := c.specsOf(docs)
	if err != nil {
		return nil, nil, err
	}
	return specs, docs, nil
}

// specsOf turns generated task documents into task specs, with the dataset
// injected.
func (c *Config) specsOf(docs []map[string]any) ([]taskstate.TaskSpec, error) {
	specs := make([]taskstate.TaskSpec, len(docs))
	for i, d := range docs {
		if c.Dataset != nil {
			if err := rolling.SetPath(d, "dataset.kwargs.data", c.Dataset); err != nil {
				return nil, fmt.Errorf("%w: %s: tasks: generated task %d: %v", ErrInvalidConfig, c.File, i, err)
			}
		}
		s := taskstate.TaskSpec{Kind: c.Kind, Def: d, Priority: c.Priority}
		if c.MaxAttempts != nil {
			s.MaxAttempts = *c.MaxAttempts
			if s.MaxAttempts == 0 {
				s.MaxAttempts = taskstate.UnlimitedAttempts
			}
		}
		specs[i] = s
	}
	return specs, nil
}

// knows reports whether kind is a built-in kind or one of the programs.
func (c *Config) knows(kind string) bool {
	return slices.Contains(handlers.Reserved(), kind) || slices.Contains(c.programNames(), kind)
}

func (c *Config) programNames() []string {
	names := make([]string, len(c.Programs))
	for i, s := range c.Programs {
		names[i] = s.Name
	}
	return names
}

// WorkerCommands returns the worker command lines that run this config's
// tasks on a fleet (store and NATS flags left out: they are the fleet's):
// one line, or one per stage of a two-phase run. Programs with only a
// command are given as --program flags; the others need a --programs file
// holding this config's programs: map, which a trailing comment says.
func (c *Config) WorkerCommands() []string {
	base := []string{"worker", "--pool", shellQuote(c.Pool), "--kinds", shellQuote(c.Kind)}
	var file []string
	for _, s := range c.Programs {
		if s.Dir != "" || s.Timeout != 0 || len(s.Env) > 0 || len(s.PassEnv) > 0 {
			file = append(file, s.Name)
			continue
		}
		argv := make([]string, len(s.Command))
		for i, a := range s.Command {
			argv[i] = shellQuote(a)
		}
		base = append(base, "--program", shellQuote(s.Name+"="+strings.Join(argv, " ")))
	}
	note := ""
	if len(file) > 0 {
		base = append(base, "--programs", "PROGRAMS.yaml")
		note = fmt.Sprintf("  # PROGRAMS.yaml: the programs: map of %s (%s)", c.File, strings.Join(file, ", "))
	}
	line := func(extra ...string) string { return strings.Join(append(slices.Clone(base), extra...), " ") + note }
	if !c.TwoPhase {
		return []string{line()}
	}
	return []string{line("--to-status", "part_done"), line("--from-status", "part_done")}
}

// shellQuote quotes s for a POSIX shell (and for program.SplitCommand)
// unless it needs no quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
