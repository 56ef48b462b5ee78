package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// ---------------------------------------------------------------------------
// The repository and the binaries.

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error

	binOnce sync.Once
	binDir  string // set by TestMain
	binErr  error
)

// repoRoot returns the directory of the main module's go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			rootErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			rootErr = errors.New("go env GOMOD: not inside a module")
			return
		}
		rootDir = filepath.Dir(gomod)
	})
	if rootErr != nil {
		t.Fatal(rootErr)
	}
	return rootDir
}

// repoPath joins elements onto the repository root.
func repoPath(t testing.TB, elem ...string) string {
	return filepath.Join(append([]string{repoRoot(t)}, elem...)...)
}

// binary returns the path of the freshly built dispatcher or worker. The
// binaries are built once per test run from the repository's ./cmd/...,
// with the same settings as `make build` and internal/e2e, so the build
// cache serves all three.
func binary(t testing.TB, name string) string {
	t.Helper()
	binOnce.Do(func() {
		root := repoRoot(t)
		cmd := exec.Command("go", "build", "-o", binDir+string(os.PathSeparator), "./cmd/dispatcher", "./cmd/worker")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/dispatcher ./cmd/worker: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, name)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// ---------------------------------------------------------------------------
// --help output.

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
	out, code := runQuick(t, nil, binary(t, bin), append(slices.Clone(args), "--help")...)
	if code != 0 {
		t.Fatalf("%s --help: exit %d\n%s", key, code, out)
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
	out, code := runQuick(t, nil, binary(t, "dispatcher"), "help")
	if code != 0 {
		t.Fatalf("dispatcher help: exit %d\n%s", code, out)
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

// ---------------------------------------------------------------------------
// Processes.

// childEnv returns the environment for a child process: this process's,
// without any TASKFLEET_* variable (a developer's settings must not leak
// into the test), plus extra ("K=V").
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TASKFLEET_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runQuick runs a short command to completion (30 s at most) and returns
// its combined output and exit code.
func runQuick(t testing.TB, env []string, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(env...)
	cmd.Dir = os.TempDir()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		if ctx.Err() != nil {
			t.Fatalf("%s %q: did not finish within 30s\n%s", filepath.Base(bin), args, out)
		}
		return string(out), ee.ExitCode()
	}
	t.Fatalf("%s %q: %v", filepath.Base(bin), args, err)
	return "", -1
}

// syncBuffer is a bytes.Buffer safe for a writer and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a long-running binary started by a test.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
	code   int
}

// startProc starts bin with args in dir; the test's cleanup stops it with
// SIGTERM (and kills it if it does not exit within 15 s).
func startProc(t testing.TB, dir string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(bin), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = childEnv(env...)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			p.code = 0
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			}
		default:
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// output returns everything the process wrote so far.
func (p *proc) output() string { return p.stdout.String() + p.stderr.String() }

// exited reports whether the process has exited, and its code.
func (p *proc) exited() (int, bool) {
	select {
	case <-p.done:
		return p.code, true
	default:
		return 0, false
	}
}

// waitExit waits up to timeout for the process to exit on its own.
func (p *proc) waitExit(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s; output:\n%s", p.name, timeout, p.output())
		return -1
	}
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t testing.TB) int {
	t.Helper()
	if code, ok := p.exited(); ok {
		return code
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal %s: %v", p.name, err)
	}
	return p.waitExit(t, 20*time.Second)
}

// waitLog polls the process's JSON log (stderr) until a line satisfies
// match, and returns that line. It fails if the process exits first or the
// deadline passes.
func (p *proc) waitLog(t testing.TB, timeout time.Duration, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
		sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && match(rec) {
				return rec
			}
		}
		if code, ok := p.exited(); ok {
			t.Fatalf("%s exited with code %d before logging %s; output:\n%s", p.name, code, what, p.output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %s within %s; output:\n%s", p.name, what, timeout, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logMsg matches a log line by its message.
func logMsg(msg string) func(map[string]any) bool {
	return func(rec map[string]any) bool { return rec["msg"] == msg }
}

// eventually polls cond every 20 ms until it returns nil or the deadline
// passes, then fails with the last error.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Prometheus text format.

// series is one sample line of a /metrics scrape.
type series struct {
	Name   string
	Labels map[string]string
	Value  string
}

// scrape fetches url and parses the Prometheus text format.
func scrape(url string) ([]series, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return parseExposition(string(body))
}

func parseExposition(text string) ([]series, error) {
	var out []series
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := series{Labels: map[string]string{}}
		i := strings.IndexAny(line, "{ ")
		if i < 0 {
			return nil, fmt.Errorf("line %d: %q: no value", n+1, line)
		}
		s.Name = line[:i]
		rest := line[i:]
		if rest[0] == '{' {
			end, err := parseLabels(rest, s.Labels)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q: %v", n+1, line, err)
			}
			rest = rest[end:]
		}
		s.Value = strings.Fields(rest)[0]
		out = append(out, s)
	}
	return out, nil
}

// parseLabels parses `{a="x",b="y"}` at the start of s into m and returns
// the index after the closing brace.
func parseLabels(s string, m map[string]string) (int, error) {
	i := 1
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return 0, errors.New("unterminated labels")
		}
		if s[i] == '}' {
			return i + 1, nil
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 || i+eq+1 >= len(s) || s[i+eq+1] != '"' {
			return 0, errors.New("bad label")
		}
		name := strings.TrimSpace(s[i : i+eq])
		i += eq + 2
		var val strings.Builder
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[i])
				}
				continue
			}
			val.WriteByte(s[i])
		}
		if i >= len(s) {
			return 0, errors.New("unterminated label value")
		}
		m[name] = val.String()
		i++
	}
}

// metricIndex maps a series name to the label names and values it was
// seen with.
type metricIndex map[string]map[string]map[string]bool

func indexSeries(ss ...[]series) metricIndex {
	idx := metricIndex{}
	for _, s := range ss {
		for _, x := range s {
			labels := idx[x.Name]
			if labels == nil {
				labels = map[string]map[string]bool{}
				idx[x.Name] = labels
			}
			for k, v := range x.Labels {
				if labels[k] == nil {
					labels[k] = map[string]bool{}
				}
				labels[k][v] = true
			}
		}
	}
	return idx
}

// value returns the value of the series name{labels...} (a subset match).
func value(ss []series, name string, labels map[string]string) (string, bool) {
	for _, s := range ss {
		if s.Name != name {
			continue
		}
		ok := true
		for k, v := range labels {
			if s.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return s.Value, true
		}
	}
	return "", false
}

// ---------------------------------------------------------------------------
// PromQL: just enough to find the selectors of a query.

// selector is one vector selector in a PromQL expression.
type selector struct {
	Metric   string
	Matchers []matcher
}

type matcher struct {
	Label, Op, Value string
}

// promQuery is what a query refers to.
type promQuery struct {
	Selectors []selector
	Grouping  []string // labels of by/without/on/ignoring/group_left/group_right
}

var (
	promAggregators = set("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
		"bottomk", "topk", "quantile", "limitk", "limit_ratio")
	promGroupingKeywords = set("by", "without", "on", "ignoring", "group_left", "group_right")
	promKeywords         = set("and", "or", "unless", "bool", "offset", "atan2", "inf", "nan")
)

func set(items ...string) map[string]bool {
	m := map[string]bool{}
	for _, s := range items {
		m[s] = true
	}
	return m
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// parsePromQL extracts the selectors and grouping labels of expr. It
// understands the subset a dashboard uses: selectors with matchers,
// functions, aggregations with by/without, binary operators, range and
// subquery brackets, Grafana $variables and string literals.
func parsePromQL(expr string) (promQuery, error) {
	var q promQuery
	s := expr
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	readIdent := func() string {
		j := i
		for i < len(s) && isIdent(s[i]) {
			i++
		}
		return s[j:i]
	}
	readString := func() (string, error) {
		quote := s[i]
		i++
		var b strings.Builder
		for i < len(s) && s[i] != quote {
			if s[i] == '\\' && quote != '`' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
			i++
		}
		if i >= len(s) {
			return "", fmt.Errorf("unterminated string in %q", expr)
		}
		i++
		return b.String(), nil
	}
	readMatchers := func() ([]matcher, error) {
		i++ // {
		var ms []matcher
		for {
			skipSpace()
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated {} in %q", expr)
			}
			if s[i] == '}' {
				i++
				return ms, nil
			}
			if s[i] == ',' {
				i++
				continue
			}
			if !isIdentStart(s[i]) {
				return nil, fmt.Errorf("bad matcher at %q in %q", s[i:], expr)
			}
			m := matcher{Label: readIdent()}
			skipSpace()
			for _, op := range []string{"=~", "!~", "!=", "="} {
				if strings.HasPrefix(s[i:], op) {
					m.Op = op
					i += len(op)
					break
				}
			}
			if m.Op == "" {
				return nil, fmt.Errorf("bad matcher operator at %q in %q", s[i:], expr)
			}
			skipSpace()
			if i >= len(s) || (s[i] != '"' && s[i] != '\'' && s[i] != '`') {
				return nil, fmt.Errorf("matcher %s without a string in %q", m.Label, expr)
			}
			v, err := readString()
			if err != nil {
				return nil, err
			}
			m.Value = v
			ms = append(ms, m)
		}
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			if _, err := readString(); err != nil {
				return q, err
			}
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				for i < len(s) && s[i] != '}' {
					i++
				}
				i++
			} else {
				readIdent()
			}
		case c == '[':
			for i < len(s) && s[i] != ']' {
				i++
			}
			i++
		case c == '{':
			ms, err := readMatchers()
			if err != nil {
				return q, err
			}
			// A selector without a metric name ({job="x"}) is not used by
			// the dashboard; name it "" so a check reports it.
			q.Selectors = append(q.Selectors, selector{Matchers: ms})
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			id := readIdent()
			skipSpace()
			next := byte(0)
			if i < len(s) {
				next = s[i]
			}
			switch {
			case promGroupingKeywords[id]:
				if next != '(' {
					continue
				}
				end := strings.IndexByte(s[i:], ')')
				if end < 0 {
					return q, fmt.Errorf("unterminated %s (...) in %q", id, expr)
				}
				for _, l := range strings.Split(s[i+1:i+end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						q.Grouping = append(q.Grouping, l)
					}
				}
				i += end + 1
			case promAggregators[id], promKeywords[strings.ToLower(id)], next == '(':
				// an aggregation, a keyword or a function call
			default:
				sel := selector{Metric: id}
				if next == '{' {
					ms, err := readMatchers()
					if err != nil {
						return q, err
					}
					sel.Matchers = ms
				}
				q.Selectors = append(q.Selectors, sel)
			}
		default:
			i++
		}
	}
	return q, nil
}

// ---------------------------------------------------------------------------
// Compose files.

// composeFile is the part of the compose specification deploy/compose.yaml
// uses. It is decoded strictly, so a misspelt key fails the test with its
// line and column, as `docker compose config` would. A new, valid key needs
// a field here.
type composeFile struct {
	Name       string                `yaml:"name"`
	XTaskfleet any                   `yaml:"x-taskfleet"`
	XEnv       any                   `yaml:"x-taskfleet-env"`
	Services   map[string]*service   `yaml:"services"`
	Volumes    map[string]*volumeDef `yaml:"volumes"`
}

type volumeDef struct {
	Name     string `yaml:"name"`
	External bool   `yaml:"external"`
}

type service struct {
	Image           string            `yaml:"image"`
	Build           *buildDef         `yaml:"build"`
	Command         []string          `yaml:"command"`
	Entrypoint      []string          `yaml:"entrypoint"`
	Environment     map[string]string `yaml:"environment"`
	DependsOn       any               `yaml:"depends_on"`
	Healthcheck     *healthcheck      `yaml:"healthcheck"`
	Expose          []string          `yaml:"expose"`
	Ports           []string          `yaml:"ports"`
	Volumes         []string          `yaml:"volumes"`
	Profiles        []string          `yaml:"profiles"`
	Restart         string            `yaml:"restart"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	ContainerName   string            `yaml:"container_name"`
	Hostname        string            `yaml:"hostname"`
	Init            bool              `yaml:"init"`
	User            string            `yaml:"user"`
}

type buildDef struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

type healthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

// loadCompose parses deploy/compose.yaml and interpolates ${VAR...} in every
// value with env (compose's rules; an unset variable takes its default).
func loadCompose(t testing.TB, env map[string]string) *composeFile {
	t.Helper()
	path := repoPath(t, "deploy", "compose.yaml")
	var cf composeFile
	if err := yaml.UnmarshalWithOptions(readFile(t, path), &cf, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for name, s := range cf.Services {
		if s == nil {
			t.Fatalf("%s: service %s is empty", path, name)
		}
		in := func(v string) string {
			out, err := interpolate(v, env)
			if err != nil {
				t.Fatalf("%s: service %s: %v", path, name, err)
			}
			return out
		}
		all := func(vs []string) {
			for i := range vs {
				vs[i] = in(vs[i])
			}
		}
		s.Image = in(s.Image)
		all(s.Command)
		all(s.Entrypoint)
		all(s.Expose)
		all(s.Ports)
		all(s.Volumes)
		s.StopGracePeriod = in(s.StopGracePeriod)
		for k, v := range s.Environment {
			s.Environment[k] = in(v)
		}
		if s.Healthcheck != nil {
			all(s.Healthcheck.Test)
		}
	}
	return &cf
}

// composeVariables returns the names of the variables compose.yaml
// interpolates.
func composeVariables(t testing.TB) []string {
	t.Helper()
	re := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(readFile(t, repoPath(t, "deploy", "compose.yaml"))), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range re.FindAllStringSubmatch(line, -1) {
			seen[m[1]] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// interpolate applies compose's variable syntax: $$, $VAR, ${VAR},
// ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, ${VAR:+alt},
// ${VAR+alt}.
func interpolate(s string, env map[string]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", s)
			}
			body := s[i+2 : i+end]
			i += end
			v, err := expand(body, env)
			if err != nil {
				return "", fmt.Errorf("%q: %v", s, err)
			}
			b.WriteString(v)
			continue
		}
		j := i + 1
		for j < len(s) && isIdent(s[j]) && s[j] != ':' {
			j++
		}
		if j == i+1 {
			return "", fmt.Errorf("lone $ in %q (write $$ for a literal $)", s)
		}
		b.WriteString(env[s[i+1:j]])
		i = j - 1
	}
	return b.String(), nil
}

func expand(body string, env map[string]string) (string, error) {
	j := 0
	for j < len(body) && isIdent(body[j]) && body[j] != ':' {
		j++
	}
	name, op := body[:j], body[j:]
	if name == "" {
		return "", fmt.Errorf("bad variable ${%s}", body)
	}
	v, set := env[name]
	switch {
	case op == "":
		return v, nil
	case strings.HasPrefix(op, ":-"):
		if v == "" {
			return op[2:], nil
		}
		return v, nil
	case strings.HasPrefix(op, "-"):
		if !set {
			return op[1:], nil
		}
		return v, nil
	case strings.HasPrefix(op, ":?"), strings.HasPrefix(op, "?"):
		if v == "" && (op[0] == ':' || !set) {
			return "", fmt.Errorf("required variable %s is not set: %s", name, strings.TrimLeft(op, ":?"))
		}
		return v, nil
	case strings.HasPrefix(op, ":+"):
		if v != "" {
			return op[2:], nil
		}
		return "", nil
	case strings.HasPrefix(op, "+"):
		if set {
			return op[1:], nil
		}
		return "", nil
	}
	return "", fmt.Errorf("unsupported variable syntax ${%s}", body)
}

// taskfleetServices returns the services that run a taskfleet binary, with
// their command line.
func (cf *composeFile) taskfleetServices() map[string][]string {
	out := map[string][]string{}
	for name, s := range cf.Services {
		if len(s.Command) > 0 && (s.Command[0] == "worker" || s.Command[0] == "dispatcher") {
			out[name] = s.Command
		}
	}
	return out
}

// dependsOn returns the services s depends on.
func (s *service) dependsOn() []string {
	var out []string
	switch d := s.DependsOn.(type) {
	case []any:
		for _, x := range d {
			out = append(out, fmt.Sprint(x))
		}
	case map[string]any:
		for k := range d {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// ---------------------------------------------------------------------------
// Dockerfile and .dockerignore.

type instruction struct {
	Cmd  string // upper case
	Args string
	Line int
}

type stage struct {
	From, Name string
	Insns      []instruction
}

// parseDockerfile splits a Dockerfile into stages of instructions, joining
// continuation lines and dropping comments and parser directives.
func parseDockerfile(text string) (args map[string]string, stages []stage) {
	args = map[string]string{}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		start := i + 1
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") {
				next = ""
			}
			line = strings.TrimSuffix(line, "\\") + " " + next
		}
		cmd, rest, _ := strings.Cut(line, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.Join(strings.Fields(rest), " "), Line: start}
		switch {
		case in.Cmd == "FROM":
			f := strings.Fields(in.Args)
			st := stage{From: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			}
			stages = append(stages, st)
		case len(stages) == 0 && in.Cmd == "ARG":
			k, v, _ := strings.Cut(in.Args, "=")
			args[k] = strings.Trim(v, `"`)
		case len(stages) > 0:
			stages[len(stages)-1].Insns = append(stages[len(stages)-1].Insns, in)
		}
	}
	return args, stages
}

// dockerignore implements the .dockerignore rules of the Docker build
// context: patterns are rooted at the context, use filepath.Match syntax
// plus "**" for any number of directories, a pattern excludes a directory
// with everything in it, "!" re-includes, and the last matching line wins.
type dockerignore struct {
	rules []ignoreRule
}

type ignoreRule struct {
	re      *regexp.Regexp
	exclude bool
	text    string
}

func parseDockerignore(text string) (*dockerignore, error) {
	d := &dockerignore{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{exclude: true, text: line}
		if strings.HasPrefix(line, "!") {
			r.exclude = false
			line = strings.TrimSpace(line[1:])
		}
		line = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(line)), "/")
		re, err := globRegexp(line)
		if err != nil {
			return nil, fmt.Errorf(".dockerignore %q: %v", r.text, err)
		}
		r.re = re
		d.rules = append(d.rules, r)
	}
	return d, nil
}

func globRegexp(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				return nil, errors.New("unterminated [")
			}
			cls := p[i+1 : i+end]
			if strings.HasPrefix(cls, "!") {
				cls = "^" + cls[1:]
			}
			b.WriteString("[" + cls + "]")
			i += end
		case c == '\\' && i+1 < len(p):
			i++
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// excluded reports whether path (slash-separated, relative to the context)
// is left out of the build context, and by which line.
func (d *dockerignore) excluded(path string) (bool, string) {
	path = filepath.ToSlash(filepath.Clean(path))
	// The path and each of its parent directories.
	var prefixes []string
	for p := path; p != "." && p != "/" && p != ""; p = filepath.ToSlash(filepath.Dir(p)) {
		prefixes = append(prefixes, p)
	}
	excl, by := false, ""
	for _, r := range d.rules {
		for _, p := range prefixes {
			if r.re.MatchString(p) {
				excl, by = r.exclude, r.text
				break
			}
		}
	}
	return excl, by
}
