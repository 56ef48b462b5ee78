package sqlitestore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// claimRecord is one claim as a child process reports it.
type claimRecord struct {
	Claimer  string `json:"claimer"`
	ID       string `json:"id"`
	Priority int    `json:"priority"`
	Seq      int64  `json:"seq"`
	Commit   string `json:"commit"` // "" when the commit succeeded
}

const childEnv = "TASKFLEET_SQLITE_CLAIM_CHILD"

// TestClaimChild is the body of a child process of
// TestMultiProcessClaimsAreExclusive; run directly it does nothing.
func TestClaimChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("only runs as a child process")
	}
	var args struct {
		DB, Out, Name string
		Goroutines    int
	}
	require.NoError(t, json.Unmarshal([]byte(spec), &args))
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: args.DB})
	require.NoError(t, err)
	defer s.Close()
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "race"})
	require.NoError(t, err)
	f, err := os.Create(args.Out)
	require.NoError(t, err)
	defer f.Close()
	var mu sync.Mutex
	enc := json.NewEncoder(f)
	var wg sync.WaitGroup
	errs := make(chan error, args.Goroutines)
	for g := range args.Goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := args.Name + "/" + strconv.Itoa(g)
			for {
				tasks, err := m.Claim(ctx, taskstate.ClaimOptions{Owner: name})
				if err != nil {
					errs <- err
					return
				}
				if len(tasks) == 0 {
					return
				}
				task := tasks[0]
				rec := claimRecord{Claimer: name, ID: task.ID, Priority: task.Priority, Seq: task.Seq}
				if err := m.Commit(ctx, task, name, ""); err != nil {
					rec.Commit = err.Error()
				}
				mu.Lock()
				err = enc.Encode(rec)
				mu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestMultiProcessClaimsAreExclusive(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const n, procs, goroutines = 10_000, 3, 8
	dir := t.TempDir()
	db := filepath.Join(dir, "tasks.db")
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: db})
	require.NoError(t, err)
	defer s.Close()
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "race"})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	specs := make([]taskstate.TaskSpec, n)
	for i := range specs {
		specs[i] = taskstate.TaskSpec{Kind: "noop", Def: i, Priority: rng.IntN(10)}
	}
	_, err = m.Create(ctx, specs, taskstate.CreateOptions{})
	require.NoError(t, err)

	cmds := make([]*exec.Cmd, procs)
	outs := make([]string, procs)
	for p := range procs {
		outs[p] = filepath.Join(dir, fmt.Sprintf("claims-%d.jsonl", p))
		spec, _ := json.Marshal(map[string]any{"DB": db, "Out": outs[p], "Name": fmt.Sprintf("proc%d", p), "Goroutines": goroutines})
		cmd := exec.Command(os.Args[0], "-test.run=^TestClaimChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
		cmds[p] = cmd
	}
	for _, cmd := range cmds {
		require.NoError(t, cmd.Start())
	}
	for p, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "child %d", p)
	}

	claims := map[string]int{}
	byClaimer := map[string][]claimRecord{}
	for _, out := range outs {
		f, err := os.Open(out)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var rec claimRecord
			require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
			require.Empty(t, rec.Commit, "commit of %s by %s", rec.ID, rec.Claimer)
			claims[rec.ID]++
			byClaimer[rec.Claimer] = append(byClaimer[rec.Claimer], rec)
		}
		require.NoError(t, sc.Err())
		f.Close()
	}
	// Exclusive and complete: every task was claimed exactly once. How
	// the tasks spread over the claimers is up to the scheduler (under
	// load one process can take nearly all of them), so it is not checked.
	require.Len(t, claims, n, "every task claimed")
	for id, k := range claims {
		require.Equal(t, 1, k, "task %s claimed %d times", id, k)
	}
	// Each claimer took its tasks in claim order: nothing was put back, so
	// every claim finds the highest priority, then oldest, task left.
	for name, recs := range byClaimer {
		for i := 1; i < len(recs); i++ {
			a, b := recs[i-1], recs[i]
			ordered := a.Priority > b.Priority || (a.Priority == b.Priority && a.Seq < b.Seq)
			require.True(t, ordered, "%s claimed priority %d seq %d before priority %d seq %d", name, a.Priority, a.Seq, b.Priority, b.Seq)
		}
	}
	// Nothing lost and nothing left running, by the counters and by a scan
	// of the rows.
	c, err := m.Stat(ctx, taskstate.Query{})
	require.NoError(t, err)
	require.Equal(t, n, c[taskstate.StatusDone])
	require.Equal(t, n, c.Total())
	scanned := map[taskstate.Status]int{}
	for task, err := range s.Query(ctx, taskstate.QueryParams{Pool: "race"}) {
		require.NoError(t, err)
		require.Equal(t, 1, claims[task.ID], "task %s", task.ID)
		require.Equal(t, 1, task.Attempts, "task %s", task.ID)
		scanned[task.Status]++
	}
	require.Equal(t, map[taskstate.Status]int{taskstate.StatusDone: n}, scanned)
}

func TestConcurrentCreatorsOnSeparateConnections(t *testing.T) {
	const creators, n = 20, 1000
	db := filepath.Join(t.TempDir(), "tasks.db")
	ctx := context.Background()
	specs := make([]taskstate.TaskSpec, n)
	for i := range specs {
		specs[i] = taskstate.TaskSpec{Kind: "noop", Def: map[string]any{"i": i, "model": "Linear"}}
	}
	results := make([][]string, creators)
	var wg sync.WaitGroup
	errs := make(chan error, creators)
	for c := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: db})
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "create"})
			if err != nil {
				errs <- err
				return
			}
			res, err := m.Create(ctx, specs, taskstate.CreateOptions{})
			if err != nil {
				errs <- err
				return
			}
			results[c] = res.IDs
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for c := 1; c < creators; c++ {
		require.Equal(t, results[0], results[c], "creator %d got other ids", c)
	}
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: db})
	require.NoError(t, err)
	defer s.Close()
	counts, err := s.Stat(ctx, taskstate.StatParams{Pool: "create"})
	require.NoError(t, err)
	require.Equal(t, n, counts.Total())
}
