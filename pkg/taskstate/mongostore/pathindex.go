package mongostore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// pathIndexPrefix names the declared path indexes among a pool's indexes.
const pathIndexPrefix = "path_"

// CreatePathIndex implements taskstate.Store: an ascending index on the
// path of the filter document (multikey over arrays, as MongoDB does).
func (s *Store) CreatePathIndex(ctx context.Context, p taskstate.PathIndexParams) error {
	if err := taskstate.ValidIndexPath(p.Field); err != nil {
		return err
	}
	c, err := s.coll(p.Pool)
	if err != nil {
		return err
	}
	if err := s.ensureIndexes(ctx, p.Pool, c); err != nil {
		return err
	}
	_, err = c.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: p.Field, Value: 1}},
		Options: options.Index().SetName(pathIndexPrefix + p.Field),
	})
	if err != nil {
		return s.sc.wrap(fmt.Sprintf("mongostore: pool %q: create index on %s", p.Pool, p.Field), err)
	}
	return nil
}

// PathIndexes implements taskstate.Store.
func (s *Store) PathIndexes(ctx context.Context, pool string) ([]string, error) {
	c, err := s.coll(pool)
	if err != nil {
		return nil, err
	}
	cur, err := c.Indexes().List(ctx)
	var se mongo.ServerError
	switch {
	case err != nil && errors.As(err, &se) && se.HasErrorCode(codeNamespaceNotFound):
		return nil, nil
	case err != nil:
		return nil, s.sc.wrap(fmt.Sprintf("mongostore: pool %q: list indexes", pool), err)
	}
	var specs []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &specs); err != nil {
		return nil, s.sc.wrap(fmt.Sprintf("mongostore: pool %q: list indexes", pool), err)
	}
	var out []string
	for _, sp := range specs {
		if f, ok := strings.CutPrefix(sp.Name, pathIndexPrefix); ok {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out, nil
}
