package main

import (
	"context"
	"errors"
	"os"

	"github.com/goccy/go-yaml"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/job"
	"github.com/taskfleet/taskfleet/pkg/rolling"
)

func init() {
	register("gen", "generate rolling task defs from a config and print them (a dry run of `run`)", cmdGen)
}

func cmdGen(ctx context.Context, m *Main, args []string) error {
	var file string
	e, err := m.parse("gen", "Read -f CONFIG (calendar, tasks, generators; or a `run` config) and print the generated task defs: a table of\nsegments, or with -o json a JSON array of the full task documents (dates as YYYY-MM-DD, open ends as null).", args, func(fs *cli.FlagSet) {
		fs.StringVar(&file, "f", "", "", "generation config (YAML): calendar, tasks, generators")
	})
	if err != nil {
		return err
	}
	if file == "" {
		return cli.Usagef("-f: a config file is required")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return cli.Usagef("-f: %v", err)
	}
	var top map[string]any
	_ = yaml.Unmarshal(data, &top)
	var (
		tasks []map[string]any
		gen   *rolling.GenConfig
	)
	if _, isJob := top["pool"]; isJob { // a `dispatcher run` config: generate exactly what run would create
		cfg, err := job.Parse(data, file)
		if err != nil {
			return jobErr(err)
		}
		if _, tasks, err = cfg.Specs(); err != nil {
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
	}
	if e.json() {
		return rolling.WriteJSON(m.Stdout, tasks)
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
