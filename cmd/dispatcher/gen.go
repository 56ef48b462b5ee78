package main

import (
	"context"
	"errors"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/rolling"
)

func init() {
	register("gen", "generate rolling task defs from a config and print them (a dry run of `run`)", cmdGen)
}

func cmdGen(ctx context.Context, m *Main, args []string) error {
	var file string
	e, err := m.parse("gen", "Read -f CONFIG (calendar, tasks, generators) and print the generated task defs: a table of\nsegments, or with -o json a JSON array of the full task documents (dates as YYYY-MM-DD, open ends as null).", args, func(fs *cli.FlagSet) {
		fs.StringVar(&file, "f", "", "", "generation config (YAML): calendar, tasks, generators")
	})
	if err != nil {
		return err
	}
	if file == "" {
		return cli.Usagef("-f: a config file is required")
	}
	cfg, err := rolling.LoadGenConfig(file)
	if err != nil {
		return genErr(err)
	}
	tasks, err := cfg.Build()
	if err != nil {
		return genErr(err)
	}
	if e.json() {
		return rolling.WriteJSON(m.Stdout, tasks)
	}
	return rolling.WriteTable(m.Stdout, tasks, cfg.SegmentsPath())
}

// genErr marks configuration errors of package rolling as usage errors
// (exit 2); their message already names the file and line or path.
func genErr(err error) error {
	if errors.Is(err, rolling.ErrInvalidConfig) || errors.Is(err, rolling.ErrInvalidTemplate) || errors.Is(err, rolling.ErrOutOfCalendar) {
		return &cli.UsageError{Msg: err.Error()}
	}
	return err
}
