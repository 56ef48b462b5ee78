package main

import (
	"context"
	"fmt"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func init() {
	register("index", "index a dotted path of the pool's defs (like MongoDB's createIndex); lists the indexes without --path", cmdIndex)
}

func cmdIndex(ctx context.Context, m *Main, args []string) error {
	var paths string
	e, err := m.parse("index", "Declare an index on dotted paths of the pool's defs, such as model.class, so that\nequality and $in filters on them (stat, wait, query, reset, remove) read the index\ninstead of every task. Indexes are per pool; declaring one twice does nothing.\nWithout --path, list the pool's indexes.", args, func(fs *cli.FlagSet) {
		fs.StringVar(&paths, "path", "", "", "comma-separated dotted paths into the def (model.class)")
	})
	if err != nil {
		return err
	}
	list := splitList(paths)
	for _, p := range list {
		if err := taskstate.ValidIndexPath("filter." + p); err != nil {
			return cli.Usagef("--path %s: %v", p, err)
		}
	}
	if err := e.open(ctx); err != nil {
		return err
	}
	defer e.close()
	for _, p := range list {
		if err := e.app.Manager.CreateIndex(ctx, p); err != nil {
			return err
		}
	}
	idx, err := e.app.Manager.Indexes(ctx)
	if err != nil {
		return err
	}
	if e.json() {
		if idx == nil {
			idx = []string{}
		}
		return cli.WriteJSON(m.Stdout, map[string]any{"indexes": idx})
	}
	for _, f := range idx {
		fmt.Fprintln(m.Stdout, f)
	}
	return nil
}
