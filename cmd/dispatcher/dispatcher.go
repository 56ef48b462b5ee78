package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/taskfleet/taskfleet/internal/app"
	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/redact"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Main is the dispatcher program with its environment injected, so tests
// run it in-process.
type Main struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string

	logFormat string           // --log-format, once parsed: how errors are reported
	redactor  *redact.Redactor // the secrets of the flags, once parsed
}

type command struct {
	summary string
	run     func(ctx context.Context, m *Main, args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, m *Main, args []string) error) {
	commands[name] = command{summary: summary, run: run}
}

func (m *Main) usage() {
	fmt.Fprintln(m.Stderr, "usage: dispatcher COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(m.Stderr, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(m.Stderr, "\nRun `dispatcher COMMAND --help` for its flags. Every flag also reads an environment variable, shown in the help.")
	fmt.Fprintln(m.Stderr, "\nExit codes: 0 success; 1 failure; 2 bad flags, config or input (or a read command's missing store file or\nunknown pool); 3 wait timed out; 4 wait finished with failed tasks. See docs/CLI.md.")
}

// Run runs the command named by args[0] and returns the exit code.
func (m *Main) Run(ctx context.Context, args []string) (code int) {
	defer cli.Recover(m.Stderr, "dispatcher", &code)
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		m.usage()
		if len(args) == 0 {
			return cli.ExitUsage
		}
		return cli.ExitOK
	}
	if cli.IsVersion(args) {
		fmt.Fprintln(m.Stdout, cli.Version("dispatcher"))
		return cli.ExitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(m.Stderr, "dispatcher: unknown command %q\n\n", args[0])
		m.usage()
		return cli.ExitUsage
	}
	err := cmd.run(ctx, m, args[1:])
	return m.exit(err)
}

func (m *Main) exit(err error) int {
	return cli.ExitFormat(m.Stderr, "dispatcher", err, m.logFormat, m.redactor)
}

// env is one command invocation: its flags, the positional arguments and,
// once opened, the app.
type env struct {
	m   *Main
	fs  *cli.FlagSet
	c   cli.Common
	pos []string
	app *app.App

	name         string // the command, as parse was given it
	allowMissing bool   // --allow-missing of a read command (see existing.go)
	notesW       io.Writer
}

// localCommands read no store and no NATS: they get only the output and
// log flags.
var localCommands = map[string]bool{"gen": true}

// parse defines the common flags plus extra, parses args and validates.
func (m *Main) parse(name, summary string, args []string, extra func(fs *cli.FlagSet)) (*env, error) {
	e := &env{m: m, fs: cli.NewFlagSet("dispatcher "+name, m.Getenv, m.Stderr), name: name}
	if localCommands[name] {
		e.c.RegisterLocal(e.fs)
	} else {
		e.c.Register(e.fs)
		e.registerAllowMissing()
	}
	if extra != nil {
		extra(e.fs)
	}
	e.fs.FlagSet.Usage = func() { e.fs.Usage("usage: dispatcher " + name + " [flags]\n\n" + summary) }
	pos, err := e.fs.Parse(args)
	if err != nil {
		return nil, err
	}
	m.logFormat, m.redactor = e.c.LogFormat, e.c.Redactor()
	if !rawOutput[name] {
		// Output is text: no credential reaches it, whatever a task's
		// def, result or error quotes.
		m.Stdout = m.redactor.Writer(m.Stdout)
	}
	e.pos = pos
	if err := e.c.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// open opens the store (and NATS) for the pool.
func (e *env) open(ctx context.Context) error {
	log, err := e.c.NewLog(e.m.Stderr)
	if err != nil {
		return err
	}
	if err := e.checkStoreExists(); err != nil {
		return err
	}
	a, err := app.Open(ctx, &e.c, log, "dispatcher", nil, taskstate.Config{})
	if err != nil {
		return err
	}
	e.app = a
	if err := e.checkPoolExists(ctx); err != nil {
		e.close()
		return err
	}
	return nil
}

func (e *env) close() {
	if e.app != nil {
		_ = e.app.Close()
	}
}

func (e *env) json() bool { return e.c.Output == "json" }

// query parses --filter plus positional ids into a Query.
func (e *env) query(filter string, ids []string) (taskstate.Query, error) {
	q, err := taskstate.ParseQueryJSON(filter)
	if err != nil {
		return q, cli.Usagef("--filter: %v", err)
	}
	if len(ids) > 0 {
		for _, id := range ids {
			if !taskstate.ValidID(id) {
				return q, cli.Usagef("task id %q: want 24 hex digits", id)
			}
		}
		q = q.Where(taskstate.FieldID, taskstate.OpIn, toAny(ids))
	}
	return q, nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
