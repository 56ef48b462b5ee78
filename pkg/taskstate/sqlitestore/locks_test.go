//go:build unix

package sqlitestore

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

const (
	createChildEnv = "TASKFLEET_SQLITE_CREATE_CHILD"
	probeChildEnv  = "TASKFLEET_SQLITE_PROBE_CHILD"
)

// TestCreateChild is the body of a child process of
// TestHeaderCheckKeepsSQLiteLocks: it opens the file, creates one task,
// writes "created", and closes the file once its stdin ends; run
// directly it does nothing.
func TestCreateChild(t *testing.T) {
	spec := os.Getenv(createChildEnv)
	if spec == "" {
		t.Skip("only runs as a child process")
	}
	var args struct{ DB, Pool string }
	require.NoError(t, json.Unmarshal([]byte(spec), &args))
	ctx := context.Background()
	s, err := Open(ctx, Config{Path: args.DB, CheckpointInterval: -1})
	require.NoError(t, err)
	defer s.Close()
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: args.Pool})
	require.NoError(t, err)
	_, err = m.Create(ctx, []taskstate.TaskSpec{{Kind: "noop", Def: os.Getpid()}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	_, err = os.Stdout.WriteString("created\n")
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, os.Stdin)
	require.NoError(t, err)
}

// createInChild creates one task in pool of db from a process of its
// own, which keeps the file open until the returned function is called.
func createInChild(t *testing.T, db, pool string) (exit func()) {
	t.Helper()
	spec, _ := json.Marshal(map[string]string{"DB": db, "Pool": pool})
	cmd := exec.Command(os.Args[0], "-test.run=^TestCreateChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), createChildEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "created\n" {
		in.Close()
		_ = cmd.Wait()
		t.Fatalf("child: %q, %v", line, err)
	}
	return func() {
		in.Close()
		_, err := io.Copy(io.Discard, out) // the child's last words ("PASS")
		require.NoError(t, err)
		require.NoError(t, cmd.Wait())
	}
}

// TestProbeChild is the body of a child process of
// TestHeaderCheckKeepsSQLiteLocks: it writes the pid of the process that
// holds a lock on the SHARED bytes of the database file and on the
// "dead man switch" byte of its WAL index (0: none), as another process's
// SQLite would find them; run directly it does nothing.
func TestProbeChild(t *testing.T) {
	path := os.Getenv(probeChildEnv)
	if path == "" {
		t.Skip("only runs as a child process")
	}
	holder := func(file string, start, n int64) int32 {
		f, err := os.Open(file)
		require.NoError(t, err)
		defer f.Close()
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: start, Len: n}
		require.NoError(t, unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk))
		if lk.Type == unix.F_UNLCK {
			return 0
		}
		return lk.Pid
	}
	// SQLite's lock bytes: PENDING_BYTE (1 GiB) and the SHARED range
	// after it in the database; byte 128 of the WAL index.
	fmt.Printf("%d %d\n", holder(path, 1<<30, 512), holder(path+"-shm", 128, 1))
}

// lockHolders returns the pids that hold SQLite's locks on db, as
// TestProbeChild sees them from a process of its own.
func lockHolders(t *testing.T, db string) (dbPid, shmPid int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProbeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), probeChildEnv+"="+db)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	_, err = fmt.Sscan(string(out), &dbPid, &shmPid)
	require.NoError(t, err, "%s", out)
	return dbPid, shmPid
}

// TestHeaderCheckKeepsSQLiteLocks: the header check (a worker's health
// check, the checkpointer) reads the file and its WAL index beside the
// process's SQLite connections. POSIX locks belong to a process and a
// file, and closing any descriptor of the file drops them all: a check
// that opened and closed the files dropped SQLite's locks, the signs
// that the process has them open. Another process's close then took
// itself for the last, copied the WAL in and deleted it and its index;
// this process read on from the deleted index and did not see what
// processes that opened the file later wrote (a benchmark waited forever
// for tasks that were done), and its own writes went to the deleted WAL
// and were lost.
func TestHeaderCheckKeepsSQLiteLocks(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	db := filepath.Join(t.TempDir(), "tasks.db")
	ctx := context.Background()
	s, err := Open(ctx, Config{Path: db, CheckpointInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { // the store open last
		if s != nil {
			s.Close()
		}
	})
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p"})
	require.NoError(t, err)
	_, err = m.Create(ctx, []taskstate.TaskSpec{{Kind: "noop", Def: 1}}, taskstate.CreateOptions{})
	require.NoError(t, err)

	// Another store of the process opens and closes the file: holding
	// and letting go of it must not close a descriptor either.
	s2, err := Open(ctx, Config{Path: db})
	require.NoError(t, err)
	require.NoError(t, s2.Close())

	for range 3 { // the health check runs every few seconds
		fi, err := os.Stat(db)
		require.NoError(t, err)
		require.NoError(t, CheckHeader(db, fi.Size()))
		walHoldsAt(t, db, 1, 1) // what CheckHeader reads of a file shorter than its header says
	}
	dbPid, shmPid := lockHolders(t, db)
	require.Equal(t, os.Getpid(), dbPid, "SQLite's lock on the database is gone")
	require.Equal(t, os.Getpid(), shmPid, "SQLite's lock on the WAL index is gone")
	wal, err := os.Stat(db + "-wal")
	require.NoError(t, err)

	// The first child's close must not take itself for the last.
	createInChild(t, db, "p")()
	after, err := os.Stat(db + "-wal")
	require.NoError(t, err, "another process deleted the WAL of an open store")
	require.True(t, os.SameFile(wal, after), "another process replaced the WAL of an open store")

	exit := createInChild(t, db, "p")
	c, err := m.Stat(ctx, taskstate.Query{})
	require.NoError(t, err)
	require.Equal(t, 3, c[taskstate.StatusWaiting], "the store sees the other processes' tasks")
	// A write beside the other process's is kept: before the fix it went
	// to the deleted WAL and was gone once every process had closed.
	_, err = m.Create(ctx, []taskstate.TaskSpec{{Kind: "noop", Def: 2}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	exit()
	require.NoError(t, s.Close())
	s, err = Open(ctx, Config{Path: db, CheckpointInterval: -1})
	require.NoError(t, err)
	m, err = taskstate.NewManager(taskstate.Config{Store: s, Pool: "p"})
	require.NoError(t, err)
	c, err = m.Stat(ctx, taskstate.Query{})
	require.NoError(t, err)
	require.Equal(t, 4, c[taskstate.StatusWaiting], "every create that succeeded is in the file")
}
