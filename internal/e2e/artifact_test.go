//go:build unix

package e2e_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	_ "modernc.org/sqlite"

	"github.com/taskfleet/taskfleet/internal/fleettest"
	"github.com/taskfleet/taskfleet/internal/handlers"
	"github.com/taskfleet/taskfleet/pkg/collect"
)

// listedArtifact is an entry of `dispatcher artifacts -o json`.
type listedArtifact struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	Attempt int    `json:"attempt"`
}

func (c *cluster) artifacts(id string) []listedArtifact {
	c.t.Helper()
	out := c.mustDispatcher("artifacts", "--id", id, "-o", "json")
	var list []listedArtifact
	require.NoError(c.t, json.Unmarshal([]byte(out), &list), "artifacts output: %s", out)
	return list
}

// sqliteRows counts the rows of table in the cluster's SQLite file.
func (c *cluster) sqliteRows(table string) int64 {
	c.t.Helper()
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(c.store, "sqlite://"))
	require.NoError(c.t, err)
	defer db.Close()
	var n int64
	require.NoError(c.t, db.QueryRow("SELECT count(*) FROM "+table).Scan(&n))
	return n
}

// A linear task run by a worker process leaves its predictions as the
// artifact pred.parquet, which `dispatcher artifacts` lists and
// `dispatcher artifact` writes out; `dispatcher remove` leaves no chunk.
func TestLinearArtifactThroughWorker(t *testing.T) {
	c := newCluster(t)
	c.startWorker("w1", "--kinds", "linear")
	ids := c.create([]spec{{Kind: "linear", MaxAttempts: 1, Def: map[string]any{
		"model": map[string]any{"class": "Ridge", "kwargs": map[string]any{"alpha": 1.0}},
		"dataset": map[string]any{"kwargs": map[string]any{
			"data":     map[string]any{"synthetic": map[string]any{"start": "2019-01-01", "end": "2019-12-31", "instruments": 20, "features": 3, "seed": 3}},
			"segments": map[string]any{"train": []any{"2019-01-01", "2019-08-30"}, "test": []any{"2019-09-02", "2019-12-31"}},
		}},
	}}})
	c.waitAll(2 * time.Minute)
	tasks := c.query("") // not get: `get -o json` cannot print the result's NaN metrics
	require.Len(t, tasks, 1)
	require.Equal(t, "done", tasks[0].Status, describe(tasks))

	list := c.artifacts(ids[0])
	require.Len(t, list, 1)
	require.Equal(t, handlers.PredArtifact, list[0].Name)
	require.Equal(t, 1, list[0].Attempt)

	file := filepath.Join(t.TempDir(), "pred.parquet")
	require.Empty(t, c.mustDispatcher("artifact", "--id", ids[0], "--name", "pred.parquet", "-O", file))
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, list[0].Size, int64(len(data)))
	sum := sha256.Sum256(data)
	require.Equal(t, list[0].SHA256, hex.EncodeToString(sum[:]))
	f, err := collect.ReadParquet(strings.NewReader(string(data)), int64(len(data)), collect.ReadOptions{})
	require.NoError(t, err)
	require.True(t, f.HasLabel)
	require.Equal(t, 20*87, f.Len(), "20 instruments × the 87 business days of 2019-09-02..12-31")

	r := c.dispatcher("artifact", "--id", ids[0], "--name", "model.pkl")
	require.Equal(t, 1, r.Code, "%s", r)
	require.Contains(t, logText(r.Stderr), "task "+ids[0]+" in pool "+c.pool+` has no artifact "model.pkl"`)

	require.Positive(t, c.sqliteRows("artifact_chunks"))
	c.mustDispatcher("remove", ids[0])
	require.Zero(t, c.sqliteRows("artifact_chunks"), "removal leaves no chunk")
	require.Zero(t, c.sqliteRows("artifacts"))
}

// vmHWM returns the peak resident set size of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// A worker process stores a 200 MB artifact with its peak RSS under
// 150 MB: the upload is streamed. The artifact reads back whole.
func TestWorkerStoresLargeArtifactInBoundedMemory(t *testing.T) {
	backends := []string{"sqlite"}
	if os.Getenv("TASKFLEET_TEST_MONGO_URI") != "" {
		backends = append(backends, "mongo")
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			c := newCluster(t)
			if backend == "mongo" {
				c.store, c.db = os.Getenv("TASKFLEET_TEST_MONGO_URI"), mongoDatabase(t, os.Getenv("TASKFLEET_TEST_MONGO_URI"))
			}
			const size = 200_000_000
			w := c.startWorker("w1", "--kinds", "sleep", "--concurrency", "1", "--lease", "10s")
			ids := c.create([]spec{{Kind: "sleep", MaxAttempts: 1, Def: map[string]any{"artifact_bytes": size}}})
			c.waitAll(5 * time.Minute)
			tasks := c.get(ids[0])
			require.Equal(t, "done", tasks[0].Status, describe(tasks))
			peak := vmHWM(t, w.PID())
			t.Logf("%s: worker peak RSS %.1f MiB after storing %d MB", backend, float64(peak)/(1<<20), size/1_000_000)
			if fleettest.RaceEnabled {
				t.Logf("race-built worker: its memory is the race detector's, the 150 MB bound is not checked")
			} else {
				require.Less(t, peak, int64(150_000_000), "the worker's peak RSS")
			}

			h := sha256.New()
			_, err := io.Copy(h, handlers.SleepArtifactData(size))
			require.NoError(t, err)
			want := hex.EncodeToString(h.Sum(nil))
			list := c.artifacts(ids[0])
			require.Equal(t, []listedArtifact{{Name: handlers.SleepArtifact, Size: size, SHA256: want, Attempt: 1}}, list)
			file := filepath.Join(t.TempDir(), "sleep.bin")
			c.mustDispatcher("artifact", "--id", ids[0], "--name", handlers.SleepArtifact, "-O", file) // checks the SHA-256
			fi, err := os.Stat(file)
			require.NoError(t, err)
			require.Equal(t, int64(size), fi.Size())
		})
	}
}

// mongoDatabase returns a fresh database name on the server at uri, dropped
// when the test ends.
func mongoDatabase(t *testing.T, uri string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "taskfleet_e2e_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		client, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			t.Errorf("drop %s: %v", db, err)
			return
		}
		defer func() { _ = client.Disconnect(ctx) }()
		if err := client.Database(db).Drop(ctx); err != nil {
			t.Errorf("drop %s: %v", db, err)
		}
	})
	return db
}
