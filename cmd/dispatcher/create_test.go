package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// heapOfCreate runs `create --gc-percent gc` in-process on a generated
// file of n entries into a fresh store and returns the peak heap in use
// above the heap before (sampled every millisecond) and the bytes
// allocated per task.
func heapOfCreate(t *testing.T, n int, gc string) (peak uint64, allocPerTask float64) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "tasks.json")
	f, err := os.Create(file)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	_, _ = w.WriteString("[\n")
	for i := range n {
		sep := ",\n"
		if i == n-1 {
			sep = "\n]\n"
		}
		fmt.Fprintf(w, `{"kind": "noop", "def": {"model": {"class": "LGBModel", "kwargs": {"seed": %d}}, "segment": "2020-01-01"}}%s`, i, sep)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var mu sync.Mutex
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				mu.Lock()
				peak = max(peak, ms.HeapInuse-min(ms.HeapInuse, before.HeapInuse))
				mu.Unlock()
			}
		}
	}()
	var errb strings.Builder
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := m.Run(context.Background(), []string{"create", "-f", file, "--batch", "1000", "--pool", "p",
		"--store", "sqlite://" + filepath.Join(dir, "tasks.db"), "--log-level", "warn", "--gc-percent", gc})
	close(stop)
	<-sampled
	require.Equal(t, 0, code, errb.String())
	require.Contains(t, errb.String(), fmt.Sprintf("%d tasks, created %d new", n, n))
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	mu.Lock()
	defer mu.Unlock()
	return peak, float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}

// TestCreateStreamsWithBoundedHeap: `create` reads and creates a task file
// in batches, so ten times the entries take no more heap, and no more
// allocation per task. The comparison runs at Go's default collector
// target, where the peak follows the live heap; at create's default (400)
// it depends on when the collector happens to run, so that run is held to
// the absolute bound only.
func TestCreateStreamsWithBoundedHeap(t *testing.T) {
	small := 10_000
	if fleettest.RaceEnabled {
		small = 2_000 // the race detector slows the store tenfold
	}
	peakSmall, perSmall := heapOfCreate(t, small, "100")
	peakLarge, perLarge := heapOfCreate(t, 10*small, "100")
	peakDefault, _ := heapOfCreate(t, 10*small, strconv.Itoa(cli.DefaultGCPercent))
	t.Logf("%d tasks: peak heap %.1f MB, %.0f B allocated per task; %d tasks: %.1f MB, %.0f B per task; at --gc-percent %d: %.1f MB",
		small, float64(peakSmall)/(1<<20), perSmall, 10*small, float64(peakLarge)/(1<<20), perLarge, cli.DefaultGCPercent, float64(peakDefault)/(1<<20))
	require.Less(t, peakLarge, peakSmall*3/2+8<<20, "peak heap independent of the file's length")
	require.Less(t, peakLarge, uint64(64<<20), "a few batches in memory, not the file")
	require.Less(t, peakDefault, uint64(64<<20), "a few batches in memory at create's default collector target")
	require.Less(t, perLarge, perSmall*1.5, "allocation per task independent of the file's length")
}

// TestCreateBatchesJSONAndDryRun: ids stream out as one JSON array across
// batches, and a dry run counts a repeat in a later batch once.
func TestCreateBatchesJSONAndDryRun(t *testing.T) {
	env := storeEnv(t)
	file := writeFile(t, "- kind: noop\n  def: {a: 1}\n- kind: noop\n  def: {a: 2}\n- kind: noop\n  def: {a: 1}\n")
	code, out, errOut := run(t, env, "create", "--pool", "p", "-f", file, "--batch", "1", "--dry-run", "-o", "json")
	require.Equal(t, 0, code, errOut)
	require.JSONEq(t, `{"ids": ["", "", ""], "new": [true, true, false]}`, out)
	require.Contains(t, errOut, "3 tasks, would create 2 new")
	code, out, errOut = run(t, env, "create", "--pool", "p", "-f", file, "--batch", "2", "-o", "json")
	require.Equal(t, 0, code, errOut)
	var ids []string
	require.NoError(t, json.Unmarshal([]byte(out), &ids), out)
	require.Len(t, ids, 3)
	require.Equal(t, ids[0], ids[2], "a repeat in a later batch gets the first one's id")
	require.Contains(t, errOut, "3 tasks, created 2 new")
}

// TestCreateLaterBatchSpecError: a spec the Manager refuses (a def nested
// deeper than the codec takes, though within --max-depth) in a later batch,
// prepared while an earlier one is inserted, is named by its file and
// line, and the batches before it are created and counted.
func TestCreateLaterBatchSpecError(t *testing.T) {
	env := storeEnv(t)
	deep := strings.Repeat(`{"a": `, 1100) + "1" + strings.Repeat("}", 1100)
	var b strings.Builder
	b.WriteString("[\n")
	for i := range 5 {
		fmt.Fprintf(&b, `{"kind": "noop", "def": {"i": %d}},`+"\n", i)
	}
	b.WriteString(`{"kind": "noop", "def": ` + deep + "},\n")
	b.WriteString(`{"kind": "noop", "def": {"i": 6}}` + "\n]\n")
	file := filepath.Join(t.TempDir(), "tasks.json")
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o644))
	code, out, errOut := run(t, env, "create", "--pool", "p", "-f", file, "--batch", "2", "--max-depth", "2000")
	require.Equal(t, 2, code, errOut)
	require.Regexp(t, `tasks\.json:7: \[5\]: .*nested too deep`, errOut)
	require.Contains(t, errOut, "4 tasks created before the error (4 entries read)")
	require.Len(t, strings.Fields(out), 4, "the ids of the batches created")
}
