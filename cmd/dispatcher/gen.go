package main

import (
	"context"
	"errors"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/job"
	"github.com/taskfleet/taskfleet/internal/yamlpos"
	"github.com/taskfleet/taskfleet/pkg/rolling"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("gen", "generate rolling task defs from a config and print them (a dry run of `run`)", cmdGen)
}

func cmdGen(ctx context.Context, m *Main, args []string) error {
	var file, kind string
	e, err := m.parse("gen", "Read -f CONFIG (calendar, tasks, generators; a `run` config; or a Qlib workflow config with a taskfleet: section)\nand print the generated tasks (with following_until: DATE, only the windows that follow the tasks up to that test end): a table of segments, or with -o json the input of `create -f`, a JSON array\nof {kind, def[, priority, max_attempts]} with the full task documents as defs (dates as YYYY-MM-DD, open ends as null):\n  dispatcher gen -f CONFIG -o json | dispatcher create --pool P -f -", args, func(fs *cli.FlagSet) {
		fs.StringVar(&file, "f", "", "", "generation config (YAML): calendar, tasks, generators; or a run or Qlib workflow config")
		fs.StringVar(&kind, "kind", "", "", "the kind of the tasks printed by -o json (default: the config's kind, else linear)")
	})
	if err != nil {
		return err
	}
	if file == "" {
		return cli.Usagef("-f: a config file is required")
	}
	data, err := yamlpos.ReadFile(file, 0)
	if err != nil {
		return cli.Usagef("-f: %v", err)
	}
	var (
		specs []taskstate.TaskSpec
		tasks []map[string]any
		gen   *rolling.GenConfig
	)
	if job.IsRunConfig(data) { // generate exactly what run would create
		cfg, err := job.Parse(data, file)
		if err != nil {
			return jobErr(err)
		}
		if log, lerr := e.c.NewLog(m.Stderr); lerr == nil {
			cfg.LogUnused(log)
		}
		if specs, tasks, err = cfg.Specs(); err != nil {
			return jobErr(err)
		}
		gen = cfg.Gen
	} else {
		if gen, err = rolling.ParseGenConfig(data, file, true); err != nil {
			return genErr(err)
		}
		if tasks, err = gen.Build(); err != nil {
			return genErr(err)
		}
		for _, t := range tasks {
			specs = append(specs, taskstate.TaskSpec{Kind: "linear", Def: t})
		}
	}
	if e.json() {
		return cli.WriteTaskFile(m.Stdout, cli.TaskFileOf(specs, kind))
	}
	return rolling.WriteTable(m.Stdout, tasks, gen.SegmentsPath())
}

// genErr marks configuration errors of package rolling as usage errors
// (exit 2); their message already names the file and line or path.
func genErr(err error) error {
	if errors.Is(err, rolling.ErrInvalidConfig) || errors.Is(err, rolling.ErrInvalidTemplate) || errors.Is(err, rolling.ErrOutOfCalendar) {
		return &cli.UsageError{Msg: err.Error()}
	}
	return err
}
