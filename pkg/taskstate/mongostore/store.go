package mongostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// ErrInvalidURI is wrapped by Open's error when the URI does not parse or
// asks for what the store cannot honour (see ErrUnacknowledgedWrites).
var ErrInvalidURI = errors.New("mongostore: invalid URI")

// ErrUnacknowledgedWrites is wrapped by Open's error (with ErrInvalidURI)
// when the URI sets w=0. Every claim, commit and heartbeat must know
// whether it applied: an unacknowledged claim may hand out a task nobody
// runs, an unacknowledged commit may be lost while the worker moves on.
var ErrUnacknowledgedWrites = errors.New("mongostore: unacknowledged writes (w=0) are not supported")

// DefaultDatabase is the database used when Config.Database is empty.
const DefaultDatabase = "taskfleet"

// Config configures Open.
type Config struct {
	// URI is the MongoDB connection string, e.g.
	// "mongodb://user:pw@host1,host2/?replicaSet=rs0". Required. Its
	// credentials never appear in errors or logs (see Redact).
	URI string
	// Database holds one collection per pool. Defaults to "taskfleet".
	Database string
	// Logger receives connection and warning logs. Defaults to zap.NewNop().
	Logger *zap.Logger
}

// Store is the MongoDB backend of taskstate.Store. It is safe for
// concurrent use.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	log    *zap.Logger
	sc     scrubber

	indexed    sync.Map // pool name -> struct{}: indexes known to exist
	indexLocks sync.Map // pool name -> *sync.Mutex: one index check at a time

	ferretMu   sync.Mutex
	ferretDone bool
	ferret     bool
	clock      serverClock // the server's clock: see now
}

var _ taskstate.Store = (*Store)(nil)

// Open connects to MongoDB and pings it. Whatever the URI says, writes use
// write concern {w: "majority", j: true} and reads go to the primary (a URI
// with w=0 is refused, see ErrUnacknowledgedWrites; other settings are
// replaced, with a warning in the log). Unless the URI sets them, writes
// are retried once by the driver after a network error or a failover
// (retryable writes) and the application name is "taskfleet". The ping
// honours ctx; a URI option such as serverSelectionTimeoutMS (default 30 s)
// bounds it as well.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URI == "" {
		return nil, errors.New("mongostore: Config.URI is required")
	}
	if cfg.Database == "" {
		cfg.Database = DefaultDatabase
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	sc := newScrubber(cfg.URI)
	redacted := Redact(cfg.URI)

	opts, err := clientOptions(cfg.URI, sc, cfg.Logger)
	if err != nil {
		return nil, err
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, sc.wrapOpaque("mongostore: connect to "+redacted, err)
	}
	if err := client.Ping(ctx, nil); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = client.Disconnect(dctx)
		return nil, sc.wrapOpaque("mongostore: cannot reach "+redacted, err)
	}
	s := &Store{
		client: client,
		db:     client.Database(cfg.Database),
		log:    cfg.Logger.With(zap.String("store", "mongo"), zap.String("database", cfg.Database)),
		sc:     sc,
	}
	s.log.Info("connected to MongoDB", zap.String("uri", redacted))
	return s, nil
}

// clientOptions reads the URI and forces the concerns Open documents.
func clientOptions(uri string, sc scrubber, log *zap.Logger) (*options.ClientOptions, error) {
	redacted := Redact(uri)
	opts := options.Client().ApplyURI(uri)
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURI, sc.wrapOpaque("mongostore: invalid URI "+redacted, err))
	}
	if wc := opts.WriteConcern; wc != nil {
		if w, ok := wc.W.(int); ok && w == 0 {
			return nil, fmt.Errorf("%w: %w: the URI %s sets w=0; taskfleet must know whether each claim and commit applied, so it always writes with w=majority, j=true: remove w=0",
				ErrInvalidURI, ErrUnacknowledgedWrites, redacted)
		}
		if wc.W != "majority" || wc.Journal == nil || !*wc.Journal {
			log.Warn("the URI's write concern is replaced by w=majority, j=true: an acknowledged claim or commit must survive a failover")
		}
	}
	journal := true
	opts.SetWriteConcern(&writeconcern.WriteConcern{W: "majority", Journal: &journal})
	// Claims are findAndModify (always on the primary), but the reads
	// that decide (heartbeat read-back, the key lookup of a create, stat,
	// wait, the reaper's listing) must see the latest writes too.
	if rp := opts.ReadPreference; rp != nil && rp.Mode() != readpref.PrimaryMode {
		log.Warn("the URI's read preference is replaced by primary: the store's reads decide transitions and counts", zap.Stringer("uri_mode", rp.Mode()))
	}
	opts.SetReadPreference(readpref.Primary())
	if opts.RetryWrites == nil {
		opts.SetRetryWrites(true)
	}
	if opts.AppName == nil {
		opts.SetAppName("taskfleet")
	}
	return opts, nil
}

// Close disconnects from the server.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil && !errors.Is(err, mongo.ErrClientDisconnected) {
		return s.sc.wrap("mongostore: close", err)
	}
	return nil
}

// Client returns the underlying driver client.
func (s *Store) Client() *mongo.Client { return s.client }

// Database returns the database that holds the pools.
func (s *Store) Database() *mongo.Database { return s.db }

// IsFerretDB reports whether the server is FerretDB rather than MongoDB,
// from the buildInfo command: FerretDB adds ferretdb* fields
// (ferretdbVersion, ferretdbFeatures) to it. FerretDB v1 speaks the wire
// protocol but its findAndModify is not atomic under concurrency, so the
// Store contract suite skips its concurrent-atomicity cases there. The answer
// is cached after the first success.
func (s *Store) IsFerretDB(ctx context.Context) (bool, error) {
	s.ferretMu.Lock()
	defer s.ferretMu.Unlock()
	if s.ferretDone {
		return s.ferret, nil
	}
	var info bson.Raw
	if err := s.client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, s.sc.wrap("mongostore: buildInfo", err)
	}
	elems, err := info.Elements()
	if err != nil {
		return false, fmt.Errorf("mongostore: buildInfo: %w", err)
	}
	for _, e := range elems {
		if strings.HasPrefix(strings.ToLower(e.Key()), "ferretdb") {
			s.ferret = true
			break
		}
	}
	s.ferretDone = true
	return s.ferret, nil
}

// coll returns the collection of a pool after checking its name.
func (s *Store) coll(pool string) (*mongo.Collection, error) {
	if err := taskstate.ValidatePool(pool); err != nil {
		return nil, err
	}
	return s.db.Collection(pool), nil
}

// Index names, as the server would generate them.
const (
	indexKey       = "key_1"
	indexClaim     = "status_1_priority_-1_seq_1"
	indexKinds     = "status_1_kind_1_priority_-1_seq_1"
	indexExpired   = "status_1_lease.until_1"
	indexSeq       = "seq_1"
	indexStatusSeq = "status_1_seq_1"
)

// poolIndex is one index of every pool collection.
type poolIndex struct {
	name string
	keys bson.D
	opts *options.IndexOptionsBuilder
}

// poolIndexes are the indexes of every pool collection.
func poolIndexes() []poolIndex {
	return []poolIndex{
		// Idempotent create: exactly one insert per key wins.
		{indexKey, bson.D{{Key: fKey, Value: 1}}, options.Index().SetName(indexKey).SetUnique(true)},
		// Claim: equality on status, then the sort.
		{indexClaim, bson.D{{Key: fStatus, Value: 1}, {Key: fPriority, Value: -1}, {Key: fSeq, Value: 1}}, options.Index().SetName(indexClaim)},
		// Claim by a worker with --kinds: equality on status and kind
		// (one range per kind of its $in), then the sort.
		{indexKinds, bson.D{{Key: fStatus, Value: 1}, {Key: fKind, Value: 1}, {Key: fPriority, Value: -1}, {Key: fSeq, Value: 1}}, options.Index().SetName(indexKinds)},
		// Reaper: running tasks by lease expiry.
		{indexExpired, bson.D{{Key: fStatus, Value: 1}, {Key: fLeaseUntil, Value: 1}}, options.Index().SetName(indexExpired)},
		// Query: creation order without an in-memory sort of the pool.
		{indexSeq, bson.D{{Key: fSeq, Value: 1}}, options.Index().SetName(indexSeq)},
		// Pages by status in creation order (the console's filtered pages).
		{indexStatusSeq, bson.D{{Key: fStatus, Value: 1}, {Key: fSeq, Value: 1}}, options.Index().SetName(indexStatusSeq)},
	}
}

// codeNamespaceNotFound is the server's error for a missing collection.
const codeNamespaceNotFound = 26

// ensureIndexes creates the missing indexes of a pool, once per Store and
// pool (callers of one Store wait for the first). It lists the indexes and
// creates only the missing ones, which costs one round trip once they
// exist. If the create fails, for instance because another process created
// the same indexes at the same moment, it lists them again and succeeds if
// they are all there now. (This also sidesteps FerretDB v1, whose
// connection handler panics when several existing indexes are created
// again.) A failure is not cached: the next call tries again. An existing
// key index that is not unique is an error, since creating tasks would no
// longer be idempotent.
func (s *Store) ensureIndexes(ctx context.Context, pool string, c *mongo.Collection) error {
	if _, ok := s.indexed.Load(pool); ok {
		return nil
	}
	mu, _ := s.indexLocks.LoadOrStore(pool, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if _, ok := s.indexed.Load(pool); ok {
		return nil
	}
	missing, err := s.missingIndexes(ctx, pool, c)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		if _, cerr := c.Indexes().CreateMany(ctx, missing); cerr != nil {
			if missing, err = s.missingIndexes(ctx, pool, c); err != nil || len(missing) > 0 {
				if dup := s.duplicateKeys(ctx, c); dup != "" {
					return fmt.Errorf("mongostore: pool %q: %w: the unique index %s cannot be built: %s; delete the extra tasks and try again", pool, ErrDuplicateKeys, indexKey, dup)
				}
				return s.sc.wrap(fmt.Sprintf("mongostore: pool %q: create indexes", pool), cerr)
			}
		} else {
			s.log.Info("created indexes", zap.String("pool", pool), zap.Int("indexes", len(missing)))
		}
	}
	s.indexed.Store(pool, struct{}{})
	return nil
}

// missingIndexes lists the indexes of a pool and returns those to create.
func (s *Store) missingIndexes(ctx context.Context, pool string, c *mongo.Collection) ([]mongo.IndexModel, error) {
	existing := map[string]bool{}
	cur, err := c.Indexes().List(ctx)
	var se mongo.ServerError
	switch {
	case errors.As(err, &se) && se.HasErrorCode(codeNamespaceNotFound):
	case err != nil:
		return nil, s.sc.wrap(fmt.Sprintf("mongostore: pool %q: list indexes", pool), err)
	default:
		var specs []struct {
			Name   string `bson:"name"`
			Unique bool   `bson:"unique"`
		}
		if err := cur.All(ctx, &specs); err != nil {
			return nil, s.sc.wrap(fmt.Sprintf("mongostore: pool %q: list indexes", pool), err)
		}
		for _, sp := range specs {
			existing[sp.Name] = true
			if sp.Name == indexKey && !sp.Unique {
				return nil, fmt.Errorf("mongostore: pool %q: index %s exists but is not unique; drop it so that a unique one can be created", pool, indexKey)
			}
		}
	}
	var missing []mongo.IndexModel
	for _, ix := range poolIndexes() {
		if !existing[ix.name] {
			missing = append(missing, mongo.IndexModel{Keys: ix.keys, Options: ix.opts})
		}
	}
	return missing, nil
}

// ErrDuplicateKeys is wrapped by the error of a create on a pool whose
// collection holds several tasks with one key (written by another program,
// or before the unique index existed): the unique key index, on which
// idempotent creation rests, cannot be built.
var ErrDuplicateKeys = errors.New("duplicate task keys")

// duplicateKeys names a few keys held by more than one task, with their
// counts; "" if there are none or they cannot be read.
func (s *Store) duplicateKeys(ctx context.Context, c *mongo.Collection) string {
	cur, err := c.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$" + fKey}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
		{{Key: "$match", Value: bson.D{{Key: "n", Value: bson.D{{Key: "$gt", Value: 1}}}}}},
		{{Key: "$sort", Value: bson.D{{Key: "n", Value: -1}, {Key: "_id", Value: 1}}}},
		{{Key: "$limit", Value: 5}},
	})
	if err != nil {
		return ""
	}
	var rows []struct {
		Key any   `bson:"_id"`
		N   int64 `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil || len(rows) == 0 {
		return ""
	}
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("key %v is held by %d tasks", r.Key, r.N)
	}
	return strings.Join(parts, ", ")
}

// wrap adds context to a driver error and scrubs it.
func (s *Store) wrap(op, pool string, err error) error {
	return s.sc.wrap(fmt.Sprintf("mongostore: %s (pool %q)", op, pool), err)
}

// ListPools returns the pool collections of the database, sorted. System
// collections are left out.
func (s *Store) ListPools(ctx context.Context) ([]string, error) {
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, s.sc.wrap("mongostore: list pools", err)
	}
	pools := names[:0]
	for _, n := range names {
		// system.* and a pool's own collections (POOL.logs) hold dots,
		// which pool names never do.
		if !strings.Contains(n, ".") {
			pools = append(pools, n)
		}
	}
	slices.Sort(pools)
	return pools, nil
}
