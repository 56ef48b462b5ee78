//go:build linux

package e2e_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/fleettest"
)

// envMongoTestServerBin is the Mongo-wire test server's binary, exported by
// tools/mongotestserver/with-server.sh for tests that start their own.
const envMongoTestServerBin = "TASKFLEET_TEST_MONGOTESTSERVER_BIN"

// hosts is a small network for one test: a bridge in this network
// namespace, which plays the store's host (the Mongo-wire test server and
// NATS listen on the bridge's address), and one network namespace per
// worker host, each joined to the bridge by a veth pair with its own
// address. Cutting a host's veth end on the bridge side partitions it.
type hosts struct {
	t      *testing.T
	hub    string   // the bridge's address: the store host's
	names  []string // the worker hosts' namespaces
	addrs  []string // their addresses
	links  []string // the bridge side of their veth pairs
	bridge string
}

// newHosts builds the network with n worker hosts, or skips the test
// where namespaces cannot be made (not root, no iproute2, no netns
// support). Everything is removed when the test ends.
func newHosts(t *testing.T, n int) *hosts {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2's ip to make network namespaces (Debian package iproute2)")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: making network namespaces needs root")
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	tag := hex.EncodeToString(b[:2])
	subnet := fmt.Sprintf("10.77.%d", 1+int(b[2])%250)
	h := &hosts{t: t, hub: subnet + ".1", bridge: "tfbr" + tag}
	if out, err := exec.Command("ip", "link", "add", h.bridge, "type", "bridge").CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot make a bridge (%v: %s): network namespaces are not available here", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { h.ipQuiet("link", "del", h.bridge) })
	h.ip("addr", "add", h.hub+"/24", "dev", h.bridge)
	h.ip("link", "set", h.bridge, "up")
	for i := range n {
		ns := fmt.Sprintf("tfh%s-%d", tag, i)
		link := fmt.Sprintf("tfv%s%d", tag, i)
		addr := fmt.Sprintf("%s.%d", subnet, 10+i)
		h.ip("netns", "add", ns)
		t.Cleanup(func() { h.ipQuiet("netns", "del", ns) })
		h.ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
		t.Cleanup(func() { h.ipQuiet("link", "del", link) })
		h.ip("link", "set", link, "master", h.bridge, "up")
		h.ip("-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
		h.ip("-n", ns, "link", "set", "eth0", "up")
		h.ip("-n", ns, "link", "set", "lo", "up")
		h.names, h.addrs, h.links = append(h.names, ns), append(h.addrs, addr), append(h.links, link)
	}
	return h
}

func (h *hosts) ip(args ...string) {
	h.t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	require.NoError(h.t, err, "ip %s: %s", strings.Join(args, " "), out)
}

func (h *hosts) ipQuiet(args ...string) { _ = exec.Command("ip", args...).Run() }

// cut takes host i off the network (its link on the bridge goes down);
// heal puts it back.
func (h *hosts) cut(i int)  { h.ip("link", "set", h.links[i], "down") }
func (h *hosts) heal(i int) { h.ip("link", "set", h.links[i], "up") }

// freePort returns a port free on the hub's address.
func (h *hosts) freePort() string {
	h.t.Helper()
	l, err := net.Listen("tcp", h.hub+":0")
	require.NoError(h.t, err)
	_, port, _ := net.SplitHostPort(l.Addr().String())
	require.NoError(h.t, l.Close())
	return port
}

// TestFleetAcrossHosts runs a fleet whose parts talk over a network that
// fails: the Mongo-wire test server (through its serialising proxy, so a
// claim is atomic as on MongoDB) and Debian's nats-server on one host,
// three workers on three others. One worker host is cut off for two lease
// periods and healed, NATS is restarted, and one worker is killed with
// SIGKILL. Every task ends done exactly once: no task is left running, and
// each surviving worker committed exactly the tasks whose result names it
// (a late commit from the cut-off worker would be counted by it but lose
// the result to another); the cut-off worker gave its tasks up after a
// lease without heartbeats, as pkg/taskstate's heartbeat documents.
func TestFleetAcrossHosts(t *testing.T) {
	serverBin := os.Getenv(envMongoTestServerBin)
	if serverBin == "" {
		t.Skipf("skipped: %s is not set (run through tools/mongotestserver/with-server.sh, as make test does)", envMongoTestServerBin)
	}
	natsBin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Skip("skipped: needs Debian's nats-server")
	}
	h := newHosts(t, 3)
	c := newCluster(t)

	mongo := c.start("mongotestserver", serverBin, fleettest.Env(),
		"-listen", h.hub+":0", "-proxy-listen", h.hub+":0", "-exit-with-parent")
	fleettest.Eventually(t, 60*time.Second, func() error {
		if n := strings.Count(mongo.Stdout(), "\n"); n < 2 {
			return fmt.Errorf("mongotestserver printed %d of its 2 URIs", n)
		}
		return nil
	})
	uris := strings.Split(strings.TrimSpace(mongo.Stdout()), "\n")
	c.store, c.pool = uris[1], "hosts"

	natsAddr := h.hub + ":" + h.freePort()
	natsDir := t.TempDir()
	startNATS := func() *fleettest.Proc {
		host, port, _ := net.SplitHostPort(natsAddr)
		p := c.start("nats-server", natsBin, fleettest.Env(), "-js", "-a", host, "-p", port, "-sd", natsDir)
		p.WaitOutput(t, fleettest.StartTimeout, fleettest.Stderr, "Server is ready")
		return p
	}
	natsd := startNATS()
	natsURL := "nats://" + natsAddr

	const lease = 4 * time.Second
	owners := []string{"host-a", "host-b", "host-c"}
	workers := make([]*worker, len(owners))
	for i, owner := range owners {
		metrics := h.addrs[i] + ":9464"
		args := []string{"netns", "exec", h.names[i], c.bin.Worker,
			"--owner", owner, "--metrics-addr", metrics, "--nats", natsURL, "--kinds", "sleep",
			"--concurrency", "2", "--lease", lease.String(), "--poll-interval", "500ms",
			"--reap-interval", "1s", "--reap-grace", "1s", "--drain-timeout", "2s"}
		p := c.startCmd(fleettest.Cmd{Name: "worker " + owner, Path: "ip", Args: args, Env: c.env()})
		p.WaitLog(t, fleettest.StartTimeout, "worker started", fleettest.LogMsg("worker started"))
		workers[i] = &worker{Proc: p, owner: owner, metrics: metrics}
	}
	cutOff, victim := workers[1], workers[2]
	inFlight := func(w *worker) float64 { return w.metric(t, "taskfleet_tasks_in_flight") }

	// A partition: host-b is cut off while it runs tasks, for two leases.
	// As many long tasks as the fleet has slots, so host-b surely holds two
	// (no worker claims more than its free slots) and they outlast the
	// lease: it must cancel them itself.
	ids := c.create(sleepTasks(6, "10s", "partition"), "--nats", natsURL)
	fleettest.Eventually(t, 30*time.Second, func() error {
		if n := inFlight(cutOff); n != 2 {
			return fmt.Errorf("host-b runs %v tasks, not 2 yet", n)
		}
		return nil
	})
	cutAt := time.Now()
	h.cut(1)
	cutOff.WaitLog(t, 3*lease, "host-b gives up its tasks", fleettest.LogMsg("heartbeats failed for longer than the lease; cancelled the tasks held"))
	// The fault lasts two leases whatever the test observed meanwhile:
	// this is the partition's length, not a wait for work to happen.
	time.Sleep(time.Until(cutAt.Add(2 * lease)))
	h.heal(1)
	require.Positive(t, cutOff.metric(t, "taskfleet_lease_lost_total"), "host-b's tasks were cancelled for their expired leases\n%s", cutOff.Dump())
	// host-b's two tasks come back when their leases end and run again.
	c.waitAll(time.Minute, "--nats", natsURL)

	// NATS restarts: the workers poll through the outage and reconnect.
	natsd.Stop(t)
	ids = append(ids, c.create(sleepTasks(30, "100ms", "outage"))...)
	startNATS()
	ids = append(ids, c.create(sleepTasks(30, "100ms", "restarted"), "--nats", natsURL)...)

	// A crash: host-c's worker is killed while it holds tasks; their
	// leases run out and the others reap and finish them.
	ids = append(ids, c.create(sleepTasks(30, "1s", "crash"), "--nats", natsURL)...)
	fleettest.Eventually(t, 60*time.Second, func() error {
		if n := inFlight(victim); n == 0 {
			return errors.New("host-c runs no task yet")
		}
		return nil
	})
	victim.Kill(t)

	wait := c.start("wait", c.bin.Dispatcher, c.env(), "wait", "--quiet", "--timeout", "3m", "--nats", natsURL)
	require.Equal(t, 0, wait.WaitExit(t, 4*time.Minute), "wait\n%s", c.dump())
	require.Equal(t, map[string]int{"waiting": 0, "running": 0, "part_done": 0, "done": len(ids), "failed": 0}, c.stat())

	perOwner := map[string]int{}
	reaped := 0
	for _, tk := range c.get(ids...) {
		require.Equal(t, "done", tk.Status, "task %s", tk.ID)
		res := tk.sleepRes(t)
		require.Contains(t, owners, res.Worker, "task %s result %s", tk.ID, tk.Res)
		perOwner[res.Worker]++
		if tk.Attempts > 1 {
			reaped++
		}
	}
	for _, w := range workers[:2] {
		got := w.metric(t, "taskfleet_tasks_committed_total", "pool", c.pool)
		require.Equal(t, float64(perOwner[w.owner]), got, "%s: commits per /metrics vs results naming it (%v): a fenced-off commit applied?", w.owner, perOwner)
	}
	require.Positive(t, reaped, "the cut-off and the killed workers' tasks were reaped and run again")
	t.Logf("tasks per worker %v, %d run more than once (reaped)", perOwner, reaped)
}
