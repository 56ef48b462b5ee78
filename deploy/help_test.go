package deploy

// The binaries' --help output: the flags, their environment variables
// and defaults, as the deploy files and the README must use them.

import (
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// flagInfo is one flag as `--help` prints it.
type flagInfo struct {
	Name    string // without dashes
	Type    string // "string", "int", "duration"...; "" for a bool
	Env     string // the TASKFLEET_* variable, or ""
	Default string // as printed, or ""
	Usage   string // the description, without the env and default notes
}

// Dash returns the flag as it is written on a command line: -o, --store.
func (f flagInfo) Dash() string {
	if len(f.Name) == 1 {
		return "-" + f.Name
	}
	return "--" + f.Name
}

// helpInfo is the parsed --help output of one command.
type helpInfo struct {
	Command string // "worker", "dispatcher exporter"
	Summary string
	Flags   []flagInfo
}

func (h helpInfo) flag(name string) (flagInfo, bool) {
	for _, f := range h.Flags {
		if f.Name == name {
			return f, true
		}
	}
	return flagInfo{}, false
}

func (h helpInfo) env(name string) (flagInfo, bool) {
	for _, f := range h.Flags {
		if f.Env != "" && f.Env == name {
			return f, true
		}
	}
	return flagInfo{}, false
}

var (
	flagLineRE = regexp.MustCompile(`^  -(\S+)(?: (\S+))?(?:\t(.*))?$`)
	envNoteRE  = regexp.MustCompile(` \(env (TASKFLEET_[A-Z0-9_]+)\)`)
	defNoteRE  = regexp.MustCompile(` \(default ([^()]*)\)$`)
)

var (
	helpMu    sync.Mutex
	helpCache = map[string]helpInfo{}
)

// help runs `bin args... --help` and parses its flags. Both binaries print
// help on stderr with Go's flag.PrintDefaults layout and exit 0.
func help(t testing.TB, bin string, args ...string) helpInfo {
	t.Helper()
	key := bin + " " + strings.Join(args, " ")
	helpMu.Lock()
	h, ok := helpCache[key]
	helpMu.Unlock()
	if ok {
		return h
	}
	r := run(t, binary(t, bin), append(slices.Clone(args), "--help")...)
	out := r.Output()
	if r.Code != 0 {
		t.Fatalf("%s --help: exit %d\n%s", key, r.Code, out)
	}
	h = parseHelp(strings.TrimSpace(key), out)
	if len(h.Flags) == 0 {
		t.Fatalf("%s --help: no flags found in\n%s", key, out)
	}
	helpMu.Lock()
	helpCache[key] = h
	helpMu.Unlock()
	return h
}

func parseHelp(command, out string) helpInfo {
	h := helpInfo{Command: command}
	lines := strings.Split(out, "\n")
	inFlags := false
	var summary []string
	for i, line := range lines {
		if strings.HasPrefix(line, "usage:") && i+1 < len(lines) {
			continue
		}
		if line == "Flags:" {
			inFlags = true
			continue
		}
		if !inFlags {
			if s := strings.TrimSpace(line); s != "" {
				summary = append(summary, s)
			}
			continue
		}
		if m := flagLineRE.FindStringSubmatch(line); m != nil {
			h.Flags = append(h.Flags, flagInfo{Name: m[1], Type: m[2], Usage: m[3]})
			continue
		}
		if strings.HasPrefix(line, "    \t") && len(h.Flags) > 0 {
			f := &h.Flags[len(h.Flags)-1]
			f.Usage = strings.TrimSpace(f.Usage + " " + strings.TrimPrefix(line, "    \t"))
		}
	}
	h.Summary = strings.Join(summary, " ")
	// flag.PrintDefaults appends " (default X)" to the usage, which already
	// ends with the " (env X)" note; the usage itself may mention a default.
	for i := range h.Flags {
		f := &h.Flags[i]
		rest := f.Usage
		if ms := envNoteRE.FindAllStringSubmatchIndex(f.Usage, -1); ms != nil {
			m := ms[len(ms)-1]
			f.Env = f.Usage[m[2]:m[3]]
			rest = f.Usage[m[1]:]
			f.Usage = f.Usage[:m[0]]
		}
		if m := defNoteRE.FindStringSubmatchIndex(rest); m != nil {
			f.Default = rest[m[2]:m[3]]
			if f.Env == "" {
				f.Usage = rest[:m[0]]
			}
		}
	}
	return h
}

// dispatcherCommands lists the commands `dispatcher help` prints.
func dispatcherCommands(t testing.TB) []string {
	t.Helper()
	r := run(t, binary(t, "dispatcher"), "help")
	out := r.Output()
	if r.Code != 0 {
		t.Fatalf("dispatcher help: exit %d\n%s", r.Code, out)
	}
	var cmds []string
	in := false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case line == "Commands:":
			in = true
		case in && strings.HasPrefix(line, "  "):
			if f := strings.Fields(line); len(f) > 0 {
				cmds = append(cmds, f[0])
			}
		case in && strings.TrimSpace(line) == "" && len(cmds) > 0:
			in = false
		}
	}
	if len(cmds) == 0 {
		t.Fatalf("dispatcher help lists no commands:\n%s", out)
	}
	return cmds
}

// commandHelp returns the help of a compose command line: ["worker", ...]
// or ["dispatcher", "exporter", ...].
func commandHelp(t testing.TB, argv []string) helpInfo {
	t.Helper()
	switch {
	case len(argv) >= 1 && argv[0] == "worker":
		return help(t, "worker")
	case len(argv) >= 2 && argv[0] == "dispatcher":
		return help(t, "dispatcher", argv[1])
	}
	t.Fatalf("command %q runs neither worker nor a dispatcher command", argv)
	return helpInfo{}
}

// flagArgs returns the flag names used in argv (without dashes or values).
func flagArgs(argv []string) []string {
	var names []string
	for _, a := range argv {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name := strings.TrimLeft(a, "-")
		name, _, _ = strings.Cut(name, "=")
		names = append(names, name)
	}
	return names
}

// flagValue returns the value given to flag name in argv.
func flagValue(argv []string, name string) (string, bool) {
	for i, a := range argv {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		n, v, hasV := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if n != name {
			continue
		}
		if hasV {
			return v, true
		}
		if i+1 < len(argv) {
			return argv[i+1], true
		}
	}
	return "", false
}

// binary returns the path of the built dispatcher or worker.
func binary(t testing.TB, name string) string {
	t.Helper()
	bins := fleettest.Build(t)
	switch name {
	case "dispatcher":
		return bins.Dispatcher
	case "worker":
		return bins.Worker
	}
	t.Fatalf("no binary %q", name)
	return ""
}

// run runs a short command of a binary to completion, in a directory of
// its own (a relative default path must not land in the repository),
// without the developer's TASKFLEET_* settings.
func run(t testing.TB, bin string, args ...string) fleettest.Result {
	t.Helper()
	return fleettest.Run(t, fleettest.Cmd{Path: bin, Args: args, Dir: t.TempDir()})
}
