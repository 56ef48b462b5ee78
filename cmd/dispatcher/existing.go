package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/taskfleet/taskfleet/internal/cli"
)

// readCommands never create a store or a pool: a mistyped --store or
// --pool is an error (exit 2) rather than an empty store that "succeeds".
// The value says whether the command works on one pool (so the pool must
// exist too) or on the whole store.
var readCommands = map[string]bool{
	"wait": true, "get": true, "query": true, "stat": true, "logs": true,
	"artifacts": true, "artifact": true, "collect": true,
	"reset-waiting": true, "reset-status": true, "retry-failed": true, "prioritize": true, "remove": true,
	"list": false,
}

// maxPoolsNamed bounds the pools an unknown-pool error lists.
const maxPoolsNamed = 10

// registerAllowMissing defines --allow-missing on the read commands.
func (e *env) registerAllowMissing() {
	if _, ok := readCommands[e.name]; ok {
		e.fs.BoolVar(&e.allowMissing, "allow-missing", "TASKFLEET_ALLOW_MISSING", false,
			"treat a missing SQLite store file or an unknown pool as empty instead of exiting 2 (and create the store file, as before)")
	}
}

// checkStoreExists refuses, for a read command, a SQLite store file that
// does not exist: opening it would create it.
func (e *env) checkStoreExists() error {
	if _, ok := readCommands[e.name]; !ok || e.allowMissing {
		return nil
	}
	kind, path, err := e.c.StoreTarget()
	if err != nil || kind != cli.StoreSQLite {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return cli.Usagef("%s: no store at %s (%s never creates one; check the path, or pass --allow-missing)", e.c.Where("store"), path, e.name)
	}
	return nil
}

// checkPoolExists refuses, for a read command on one pool, a pool the
// store does not have.
func (e *env) checkPoolExists(ctx context.Context) error {
	if !readCommands[e.name] || e.allowMissing {
		return nil
	}
	pools, err := e.app.Store.ListPools(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(pools, e.c.Pool) {
		return nil
	}
	have := "it has no pools"
	if len(pools) > maxPoolsNamed {
		pools = append(pools[:maxPoolsNamed], "...")
	}
	if len(pools) > 0 {
		have = "it has " + strings.Join(pools, ", ")
	}
	return cli.Usagef("%s: no pool %q in the store (%s; pass --allow-missing to treat it as empty)", e.c.Where("pool"), e.c.Pool, have)
}
