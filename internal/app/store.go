package app

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/mongostore"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// OpenStore opens the store the flags name. A bad MongoDB URI is a usage
// error (exit 2) naming the flag.
func OpenStore(ctx context.Context, c *cli.Common, log *zap.Logger) (taskstate.Store, error) {
	kind, target, err := c.StoreTarget()
	if err != nil {
		return nil, err
	}
	if kind == cli.StoreSQLite {
		s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: target})
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", c.Store, err)
		}
		return s, nil
	}
	s, err := mongostore.Open(ctx, mongostore.Config{URI: target, Database: c.DB, Logger: log})
	if errors.Is(err, mongostore.ErrInvalidURI) {
		return nil, cli.Usagef("%s: %v", c.Where("store"), err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}
