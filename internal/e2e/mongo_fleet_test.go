//go:build unix

package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/taskfleet/taskfleet/internal/fleettest"
	"github.com/taskfleet/taskfleet/pkg/taskstate/mongostore"
)

// envMongoProxyURI is the Mongo-wire test server behind its serialising
// proxy (tools/mongotestserver), set by `make test`.
const envMongoProxyURI = "TASKFLEET_TEST_MONGO_PROXY_URI"

// TestMongoFleet runs 300 sleep tasks on the MongoDB backend: the real
// dispatcher and three worker processes on FerretDB through the proxy
// that runs one command at a time (so single commands are atomic, as on
// MongoDB). Every task ends done, nothing is left running, and the
// workers claimed and committed exactly as many tasks as there are: a
// double claim would show in the claimed counters (a task's attempts
// alone cannot reveal it, since both claims count on one document).
func TestMongoFleet(t *testing.T) {
	uri := os.Getenv(envMongoProxyURI)
	if uri == "" {
		t.Skipf("%s is not set: no serialised Mongo-wire server (run through tools/mongotestserver/with-server.sh)", envMongoProxyURI)
	}
	c := newCluster(t)
	c.store, c.pool = uri, mongoPool(t, uri)
	// FerretDB scans the collection for most commands and the proxy runs
	// one at a time: reapers every 100 ms (the harness's default) would
	// keep the server busy, so they run every few seconds here.
	d := c.startDev(fleettest.FreeAddr(t), "--reap-interval", "5s")
	owners := []string{"mongo-a", "mongo-b", "mongo-c"}
	var workers []*worker
	for _, o := range owners {
		workers = append(workers, c.startWorker(o, "--nats", d.url, "--concurrency", "4", "--lease", "20s", "--poll-interval", "2s", "--reap-interval", "5s"))
	}

	const n = 300
	start := time.Now()
	ids := c.create(sleepTasks(n, "1ms", "mongo"), "--nats", d.url)
	require.Len(t, uniq(ids), n, "create returned duplicate ids")
	// Not c.waitAll: a loaded machine may need more than a command's
	// usual minute.
	wait := c.start("wait", c.bin.Dispatcher, c.env(), "wait", "--quiet", "--timeout", "3m", "--nats", d.url)
	require.Equal(t, 0, wait.WaitExit(t, 4*time.Minute), "wait\n%s", c.dump())
	t.Logf("%d tasks done in %v", n, time.Since(start).Round(time.Millisecond))

	require.Equal(t, map[string]int{"waiting": 0, "running": 0, "part_done": 0, "done": n, "failed": 0}, c.stat())
	perOwner := map[string]int{}
	for i, tk := range c.get(ids...) {
		require.Equal(t, ids[i], tk.ID)
		require.Equal(t, "done", tk.Status, "task %s", tk.ID)
		require.Equal(t, 1, tk.Attempts, "task %s: %+v", tk.ID, tk)
		res := tk.sleepRes(t)
		require.Contains(t, owners, res.Worker, "task %s result %s", tk.ID, tk.Res)
		perOwner[res.Worker]++
	}
	var claimed, committed float64
	for _, w := range workers {
		got := w.metric(t, "taskfleet_tasks_committed_total", "pool", c.pool)
		require.Equal(t, float64(perOwner[w.owner]), got, "%s committed per /metrics vs results naming it (%v)", w.owner, perOwner)
		committed += got
		claimed += w.metric(t, "taskfleet_tasks_claimed_total")
		require.Zero(t, w.metric(t, "taskfleet_lease_lost_total"), w.owner)
	}
	require.Equal(t, float64(n), claimed, "sum of taskfleet_tasks_claimed_total over the workers: each task claimed once")
	require.Equal(t, float64(n), committed, "sum of taskfleet_tasks_committed_total over the workers")
	t.Logf("tasks per worker: %v", perOwner)
}

// mongoPool returns a fresh pool name in the default database and drops
// the pool's collections when the test ends.
func mongoPool(t *testing.T, uri string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	pool := "e2e_mongo_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		client, err := mongo.Connect(options.Client().ApplyURI(uri))
		require.NoError(t, err)
		defer func() { _ = client.Disconnect(ctx) }()
		db := client.Database(mongostore.DefaultDatabase)
		names, err := db.ListCollectionNames(ctx, bson.D{})
		require.NoError(t, err)
		for _, name := range names {
			if name == pool || strings.HasPrefix(name, pool+".") {
				require.NoError(t, db.Collection(name).Drop(ctx), "drop %s", name)
			}
		}
	})
	return pool
}
