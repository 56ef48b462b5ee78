//go:build unix

package e2e_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// maxRSS bounds the peak memory of a CLI refusing hostile input: far
// below what the input would take if it were parsed or expanded (the
// smallest of them, 200 MB of def, took 7.8 GB before its limit).
func maxRSS() int64 {
	if fleettest.RaceEnabled {
		return 1500 << 20
	}
	return 300 << 20
}

// writeGen writes a file of t.TempDir() through gen, buffered.
func writeGen(t *testing.T, name string, gen func(w *bufio.Writer)) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	require.NoError(t, err)
	w := bufio.NewWriterSize(f, 1<<20)
	gen(w)
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
	return p
}

func laughsYAML(indent string, levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%sa0: &a0 [x, x, x, x, x, x, x, x, x, x]\n", indent)
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "%sa%d: &a%d [%s]\n", indent, i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	return b.String()
}

// TestHostileInputFiles feeds the real binaries the task files and configs
// that used to exhaust memory: each exits 2 naming the file, the line and
// the limit, in bounded memory, and creates nothing.
func TestHostileInputFiles(t *testing.T) {
	t.Parallel()
	bin := fleettest.Build(t)
	dir := t.TempDir()
	store := "sqlite://" + filepath.Join(dir, "tasks.db")
	deep := writeGen(t, "deep.json", func(w *bufio.Writer) {
		_, _ = w.WriteString(`[{"kind": "sleep", "def":` + "\n")
		_, _ = w.WriteString(strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "}]\n")
	})
	laughs := writeGen(t, "laughs.yaml", func(w *bufio.Writer) {
		_, _ = w.WriteString("- kind: sleep\n  def: {duration: 1ms}\n- kind: sleep\n  def:\n" + laughsYAML("    ", 9))
	})
	many := writeGen(t, "many.json", func(w *bufio.Writer) {
		_, _ = w.WriteString("[\n")
		for i := range 1001 {
			fmt.Fprintf(w, "{\"kind\": \"sleep\", \"def\": {\"i\": %d}},\n", i)
		}
		_, _ = w.WriteString(`{"kind": "sleep", "def": {}}]`)
	})
	huge := writeGen(t, "huge.json", func(w *bufio.Writer) {
		_, _ = w.WriteString(`[{"kind": "sleep", "def": {"s": "`)
		chunk := strings.Repeat("x", 1<<20)
		for range 200 {
			_, _ = w.WriteString(chunk)
		}
		_, _ = w.WriteString(`"}}]`)
	})
	overCap := writeGen(t, "overcap.json", func(w *bufio.Writer) { // under the entry limit, over the payload cap
		_, _ = w.WriteString(`[{"kind": "sleep", "def": {"duration": "1ms"}},` + "\n" + `{"kind": "sleep", "def": {"s": "`)
		_, _ = w.WriteString(strings.Repeat("x", 20<<20) + `"}}]`)
	})
	bigYAML := writeGen(t, "big.yaml", func(w *bufio.Writer) {
		_, _ = w.WriteString("- kind: sleep\n  def: {duration: 1ms}\n- kind: sleep\n  def:\n")
		for range 100_000 {
			_, _ = w.WriteString("    - xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n")
		}
	})
	inf := writeGen(t, "inf.yaml", func(w *bufio.Writer) {
		_, _ = w.WriteString("- kind: sleep\n  def: {duration: 1ms}\n  priority: .inf\n")
	})
	demo, err := os.ReadFile(filepath.Join("..", "..", "examples", "rolling", "demo.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(demo), "\nworkers: 2\n")
	workers := writeGen(t, "run.yaml", func(w *bufio.Writer) {
		_, _ = w.WriteString(strings.Replace(string(demo), "\nworkers: 2\n", "\nworkers: 100000\n", 1))
	})
	workersLine := strings.Count(string(demo)[:strings.Index(string(demo), "\nworkers: 2\n")+1], "\n") + 1
	programs := writeGen(t, "programs.yaml", func(w *bufio.Writer) {
		_, _ = w.WriteString("train:\n  command: [python3]\n  env:\n" + laughsYAML("    ", 9))
	})

	for _, tc := range []struct {
		name string
		path string
		args []string
		want []string
	}{
		{"JSON nested 100k deep", bin.Dispatcher, []string{"create", "-f", deep}, []string{deep + ":2: [0]: nested more than 100 deep (the limit; raise it with --max-depth)"}},
		{"YAML billion laughs", bin.Dispatcher, []string{"create", "-f", laughs}, []string{laughs + ":3: YAML document too complex: the document expands to more than 4194304 nodes through its aliases (the limit; raise it with --max-nodes)"}},
		{"entries over the limit", bin.Dispatcher, []string{"create", "-f", many, "--max-tasks", "1000"}, []string{many + ":1002: more than 1000 entries (the limit; raise it with --max-tasks)"}},
		{"200 MB def", bin.Dispatcher, []string{"create", "-f", huge}, []string{huge + ":1: [0]: the entry is larger than 33554432 bytes (the limit; raise it with --max-entry-size)"}},
		{"def over the payload cap", bin.Dispatcher, []string{"create", "-f", overCap}, []string{overCap + ":2: [1]: def: taskstate: payload too large"}},
		{"YAML entry over its limit", bin.Dispatcher, []string{"create", "-f", bigYAML}, []string{bigYAML + ":3: [1]: the entry is larger than 4194304 bytes (the limit; raise it with --max-entry-size)"}},
		{"priority .inf", bin.Dispatcher, []string{"create", "-f", inf}, []string{inf + ":3: [0].priority: want an integer, got .inf"}},
		{"workers: 100000", bin.Dispatcher, []string{"run", "-f", workers}, []string{fmt.Sprintf("%s:%d", workers, workersLine), "workers: must be from 0 to 64"}},
		{"programs billion laughs", bin.Worker, []string{"--programs", programs}, []string{programs + ": YAML document too complex: line 1: the document expands to more than 4194304 nodes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fleettest.Start(t, fleettest.Cmd{Path: tc.path, Args: append(tc.args, "--store", store, "--pool", "p")})
			code := p.WaitExit(t, fleettest.RunTimeout)
			require.Equal(t, 2, code, p.Dump())
			for _, w := range tc.want {
				require.Contains(t, p.Stderr(), w, p.Dump())
			}
			require.NotContains(t, p.Stderr(), "tasks created before the error", "a file of one batch creates nothing")
			t.Logf("peak RSS %d MB", p.MaxRSS()>>20)
			require.Less(t, p.MaxRSS(), maxRSS(), "peak memory of %s", tc.name)
		})
	}
	res := fleettest.Run(t, fleettest.Cmd{Path: bin.Dispatcher, Args: []string{"stat", "--store", store, "--pool", "p", "-o", "json", "--allow-missing"}})
	require.Equal(t, 0, res.Code, res.String())
	require.JSONEq(t, `{"waiting":0,"running":0,"part_done":0,"done":0,"failed":0}`, res.Stdout, "nothing was created")
}

// TestCreateErrorMidFile: an error after whole batches were created says
// how many tasks were; running the fixed file again creates the rest only.
func TestCreateErrorMidFile(t *testing.T) {
	t.Parallel()
	bin := fleettest.Build(t)
	store := "sqlite://" + filepath.Join(t.TempDir(), "tasks.db")
	gen := func(bad bool) func(w *bufio.Writer) {
		return func(w *bufio.Writer) {
			for i := range 2500 {
				fmt.Fprintf(w, "- kind: sleep\n  def: {i: %d}\n", i)
				if bad && i == 2200 {
					_, _ = w.WriteString("  priority: 1.5\n")
				}
			}
		}
	}
	bad, good := writeGen(t, "bad.yaml", gen(true)), writeGen(t, "good.yaml", gen(false))
	create := func(file string) fleettest.Result {
		return fleettest.Run(t, fleettest.Cmd{Path: bin.Dispatcher, Args: []string{"create", "-f", file, "--batch", "1000", "--store", store, "--pool", "p"}})
	}
	res := create(bad)
	require.Equal(t, 2, res.Code, res.String())
	require.Contains(t, res.Stderr, bad+":4403: [2200].priority: want an integer, got 1.5; 2000 tasks created before the error", res.String())
	require.Equal(t, 2000, strings.Count(res.Stdout, "\n"), "the ids of the created tasks are printed")
	res = create(good)
	require.Equal(t, 0, res.Code, res.String())
	require.Contains(t, res.Stderr, "2500 tasks, created 500 new in pool p")
}
