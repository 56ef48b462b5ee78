//go:build unix

package e2e_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// natsNode is one nats-server process of a JetStream cluster.
type natsNode struct {
	name    string // its server name: n1, n2, ...
	url     string // nats://HOST:PORT for clients
	args    []string
	proc    *fleettest.Proc
	running bool
}

// natsCluster is a JetStream cluster of Debian's nats-server processes on
// this host: each node its own process, its own client and route ports and
// its own store directory, so that a node can be killed and restarted.
type natsCluster struct {
	c     *cluster
	bin   string
	nodes []*natsNode
}

// newNATSCluster starts n nodes and waits until JetStream's metadata group
// has a leader; it skips the test without Debian's nats-server.
func newNATSCluster(c *cluster, n int) *natsCluster {
	t := c.t
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Skip("skipped: needs Debian's nats-server (apt-get install nats-server), a separate process per node")
	}
	nc := &natsCluster{c: c, bin: bin}
	routes := make([]string, n)
	clusterAddrs := make([]string, n)
	for i := range n {
		clusterAddrs[i] = fleettest.FreeAddr(t)
		routes[i] = "nats://" + clusterAddrs[i]
	}
	for i := range n {
		host, port, _ := net.SplitHostPort(fleettest.FreeAddr(t))
		node := &natsNode{name: fmt.Sprintf("n%d", i+1), url: "nats://" + net.JoinHostPort(host, port)}
		others := slices.Delete(slices.Clone(routes), i, i+1)
		node.args = []string{"-js", "-n", node.name, "-a", host, "-p", port, "-sd", t.TempDir(),
			"--cluster_name", "taskfleet", "--cluster", routes[i], "--routes", strings.Join(others, ",")}
		nc.nodes = append(nc.nodes, node)
		nc.start(node)
	}
	nc.eventually(time.Minute, func(js jetstream.JetStream) error {
		_, err := js.AccountInfo(context.Background())
		return err
	})
	return nc
}

func (nc *natsCluster) start(node *natsNode) {
	nc.c.t.Helper()
	node.proc = nc.c.start("nats "+node.name, nc.bin, fleettest.Env(), node.args...)
	node.proc.WaitOutput(nc.c.t, fleettest.StartTimeout, fleettest.Stderr, "Server is ready")
	node.running = true
}

// kill stops a node with SIGKILL: a crash, not a shutdown.
func (nc *natsCluster) kill(node *natsNode) {
	node.proc.Kill(nc.c.t)
	node.running = false
}

// urls is the comma-separated client URL list of the nodes.
func (nc *natsCluster) urls() string {
	out := make([]string, len(nc.nodes))
	for i, n := range nc.nodes {
		out[i] = n.url
	}
	return strings.Join(out, ",")
}

func (nc *natsCluster) node(name string) *natsNode {
	for _, n := range nc.nodes {
		if n.name == name {
			return n
		}
	}
	nc.c.t.Fatalf("no node %q", name)
	return nil
}

// eventually calls cond with a JetStream context on the running nodes
// until it returns nil.
func (nc *natsCluster) eventually(timeout time.Duration, cond func(js jetstream.JetStream) error) {
	nc.c.t.Helper()
	var live []string
	for _, n := range nc.nodes {
		if n.running {
			live = append(live, n.url)
		}
	}
	conn, err := nats.Connect(strings.Join(live, ","), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	require.NoError(nc.c.t, err)
	defer conn.Close()
	js, err := jetstream.New(conn)
	require.NoError(nc.c.t, err)
	fleettest.Eventually(nc.c.t, timeout, func() error { return cond(js) })
}

// streamsHealthy waits until both event streams have replicas replicas,
// a leader among the running nodes and every other running replica
// current; it returns their leaders' names.
func (nc *natsCluster) streamsHealthy(replicas int) map[string]string {
	nc.c.t.Helper()
	leaders := map[string]string{}
	nc.eventually(time.Minute, func(js jetstream.JetStream) error {
		for _, name := range []string{events.StreamName, events.WorkStreamName} {
			s, err := js.Stream(context.Background(), name)
			if err != nil {
				return fmt.Errorf("stream %s: %w", name, err)
			}
			info := s.CachedInfo()
			if info.Config.Replicas != replicas {
				return fmt.Errorf("stream %s has %d replicas, want %d", name, info.Config.Replicas, replicas)
			}
			if info.Cluster == nil || info.Cluster.Leader == "" || !nc.node(info.Cluster.Leader).running {
				return fmt.Errorf("stream %s has no leader among the running nodes: %+v", name, info.Cluster)
			}
			current := 1 // the leader
			for _, p := range info.Cluster.Replicas {
				if p.Current && !p.Offline && nc.node(p.Name).running {
					current++
				}
			}
			if want := min(replicas, nc.running()); current < want {
				return fmt.Errorf("stream %s: %d of its %d running replicas current", name, current, want)
			}
			leaders[name] = info.Cluster.Leader
		}
		return nil
	})
	return leaders
}

func (nc *natsCluster) running() int {
	n := 0
	for _, node := range nc.nodes {
		if node.running {
			n++
		}
	}
	return n
}

// TestFleetOnNATSCluster runs workers on a three-node JetStream cluster of
// separate nats-server processes, the event streams at three replicas.
// The workers poll only every ten minutes, so every batch finishing within
// the test's minutes was woken by events. It kills the work stream's
// leader node with SIGKILL mid-run: the workers on it reconnect to the
// others, the streams elect a new leader, and the next batch is woken
// through it; the node comes back and catches up; a last batch runs on the
// healed cluster. Every task is done once: attempts 1 and the workers'
// commits (their /metrics) add up to the tasks.
func TestFleetOnNATSCluster(t *testing.T) {
	c := newCluster(t)
	nc := newNATSCluster(c, 3)
	nats := []string{"--nats", nc.urls(), "--nats-replicas", "3"}

	// Each worker starts on its own node (one URL; the others it learns
	// from the cluster), so that killing a node surely cuts a worker off.
	workers := make([]*worker, len(nc.nodes))
	for i, node := range nc.nodes {
		workers[i] = c.startWorker(fmt.Sprintf("w%d", i+1), "--nats", node.url, "--nats-replicas", "3",
			"--concurrency", "4", "--poll-interval", "10m", "--event-poll-interval", "10m")
	}
	leaders := nc.streamsHealthy(3)
	t.Logf("stream leaders: %v", leaders)

	var ids []string
	batch := func(name string) {
		t.Helper()
		start := time.Now()
		ids = append(ids, c.create(sleepTasks(60, "20ms", name), nats...)...)
		r := c.waitAll(45*time.Second, nats...)
		require.Equal(t, 0, r.Code, "batch %s: wait\n%s\n%s", name, r, c.dump())
		t.Logf("batch %s: 60 tasks done in %v", name, time.Since(start).Round(time.Millisecond))
	}
	batch("healthy")

	// The work stream's leader crashes. The worker that started on it
	// reconnects to another node; the streams elect a leader among the
	// other two.
	victim := nc.node(leaders[events.WorkStreamName])
	nc.kill(victim)
	for i, node := range nc.nodes {
		if node == victim {
			workers[i].WaitLog(t, time.Minute, "the victim's worker reconnects", fleettest.LogMsg("reconnected to NATS"))
		}
	}
	after := nc.streamsHealthy(3)
	require.NotEqual(t, victim.name, after[events.WorkStreamName])
	batch("leader-killed")

	// The node comes back with its store directory and catches up.
	nc.start(victim)
	nc.streamsHealthy(3)
	batch("healed")

	require.Equal(t, map[string]int{"waiting": 0, "running": 0, "part_done": 0, "done": len(ids), "failed": 0}, c.stat())
	for _, tk := range c.get(ids...) {
		require.Equal(t, 1, tk.Attempts, "task %s ran more than once: %+v", tk.ID, tk)
	}
	committed := 0.0
	for _, w := range workers {
		committed += w.metric(t, "taskfleet_tasks_committed_total", "pool", c.pool)
	}
	require.Equal(t, float64(len(ids)), committed, "commits of all workers against the tasks")
}

// TestWakeupsOnNATSClusterMissNoChange subscribes a waiter's Wakeup on one
// node of a cluster and publishes an event from a client of another node
// right after the subscription returns, as a worker's commit may while
// `dispatcher wait` starts. The other node may not know of the
// subscription yet (a third of such events were not delivered on this
// host), so the Wakeup must signal once the subscription has had time to
// reach the cluster: every round gets a wake-up, which is the waiter's
// recount.
func TestWakeupsOnNATSClusterMissNoChange(t *testing.T) {
	c := newCluster(t)
	nc := newNATSCluster(c, 3)
	ctx := t.Context()
	connect := func(url string) *events.Conn {
		conn, err := events.Connect(ctx, events.Config{URL: url, Debounce: -1})
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	connect(nc.urls()) // creates the streams
	// The history stream captures every event subject, so its leader's
	// node always has the events; the waiter and the committer are on
	// the two others.
	leader := nc.streamsHealthy(1)[events.StreamName]
	var others []*natsNode
	for _, n := range nc.nodes {
		if n.name != leader {
			others = append(others, n)
		}
	}
	waiter := connect(others[0].url)
	// A bare client publishes at once, where the Publisher's asynchronous
	// JetStream publish would leave the cluster more time.
	committer, err := nats.Connect(others[1].url)
	require.NoError(t, err)
	t.Cleanup(committer.Close)
	for i := range 30 {
		pool := fmt.Sprintf("p%d", i)
		w, err := waiter.Wakeups(ctx, pool, taskstate.EventCommitted)
		require.NoError(t, err)
		require.NoError(t, committer.Publish(events.Subject(pool, taskstate.EventCommitted), []byte(`{"n":1}`)))
		require.NoError(t, committer.Flush())
		select {
		case <-w.C():
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: no wake-up after an event published on another node", i)
		}
		require.NoError(t, w.Close())
	}
}
