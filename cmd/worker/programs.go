package main

import (
	"fmt"
	"strings"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/handlers"
	"github.com/taskfleet/taskfleet/internal/handlers/program"
	"github.com/taskfleet/taskfleet/internal/yamlpos"
)

// Bounds of --program-log-bytes. The tail is one stored document, and a
// MongoDB document holds at most 16 MiB.
const (
	minProgramLog = 1 << 10
	maxProgramLog = 8 << 20
)

// programFlags collects the repeatable --program NAME=COMMAND.
type programFlags []string

func (p *programFlags) String() string { return strings.Join(*p, " ") }

func (p *programFlags) Set(v string) error {
	*p = append(*p, v)
	return nil
}

// loadPrograms reads the programs registered on the worker: every
// --program (or, when there is none, TASKFLEET_PROGRAMS) and the --programs
// file. Each error is a usage error naming the flag, the variable or the
// file and line; a name of a built-in kind or a name given twice is one.
func loadPrograms(fs *cli.FlagSet, getenv func(string) string, flags []string, file string) ([]program.Spec, error) {
	reserved := handlers.Reserved()
	var specs []program.Spec
	add := func(where string, s program.Spec) error {
		if err := s.Validate(reserved); err != nil {
			return cli.Usagef("%s: %v", where, err)
		}
		for _, o := range specs {
			if o.Name == s.Name {
				return cli.Usagef("%s: program %q is registered twice (--program, %s, --programs)", where, s.Name, program.EnvVar)
			}
		}
		specs = append(specs, s)
		return nil
	}
	for _, v := range flags {
		s, err := program.ParseFlag(v)
		if err != nil {
			return nil, cli.Usagef("%v", err)
		}
		if err := add(fmt.Sprintf("--program %q", v), s); err != nil {
			return nil, err
		}
	}
	if len(flags) == 0 {
		list, err := program.ParseEnvList(getenv(program.EnvVar))
		if err != nil {
			return nil, cli.Usagef("%v", err)
		}
		for _, s := range list {
			if err := add(program.EnvVar, s); err != nil {
				return nil, err
			}
		}
	}
	if file != "" {
		data, err := yamlpos.ReadFile(file, 0)
		if err != nil {
			return nil, cli.Usagef("%s: %v", fs.Where("programs"), err)
		}
		list, err := program.ParseFile(data, file, reserved)
		if err != nil {
			return nil, cli.Usagef("%s: %v", fs.Where("programs"), err)
		}
		for _, s := range list {
			if err := add(fmt.Sprintf("%s %s", fs.Where("programs"), file), s); err != nil {
				return nil, err
			}
		}
	}
	return specs, nil
}
