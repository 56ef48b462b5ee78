package main

// Capability probe: which MongoDB operations that the taskfleet Mongo backend
// uses work against the embedded FerretDB (SQLite) server.
//
//	go test -v -run TestCapabilities .
//
// prints a Markdown table of findings. Operations the backend relies on are
// asserted; the others (transactions, concurrent atomicity) are only reported.
// Set MONGOTESTSERVER_PROBE_URI=mongodb://... to run the same probe against
// another server (for example a real MongoDB) instead of the in-process one,
// and MONGOTESTSERVER_PROBE_REPORT=PATH to also write the table to a file.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

type finding struct {
	op       string
	status   string // "yes", "partial", "no"
	notes    string
	required bool
}

type prober struct {
	t        *testing.T
	ctx      context.Context
	client   *mongo.Client
	db       *mongo.Database
	uri      string
	external bool

	mu       sync.Mutex
	findings []finding
}

// record stores a finding; a required operation that does not fully work
// fails the test.
func (p *prober) record(t *testing.T, op string, required bool, status, notes string, args ...any) {
	t.Helper()
	if len(args) > 0 {
		notes = fmt.Sprintf(notes, args...)
	}
	p.mu.Lock()
	p.findings = append(p.findings, finding{op: op, status: status, notes: notes, required: required})
	p.mu.Unlock()
	if required && status != "yes" {
		t.Errorf("%s: %s: %s", op, status, notes)
	}
}

func (p *prober) table() string {
	var b strings.Builder
	b.WriteString("| Operation | Works | Relied on | Notes |\n|---|---|---|---|\n")
	for _, f := range p.findings {
		req := ""
		if f.required {
			req = "asserted"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", f.op, f.status, req,
			strings.ReplaceAll(strings.ReplaceAll(f.notes, "|", `\|`), "\n", " "))
	}
	return b.String()
}

func TestCapabilities(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	p := &prober{t: t, ctx: ctx}
	if uri := os.Getenv("MONGOTESTSERVER_PROBE_URI"); uri != "" {
		p.uri, p.external = uri, true
	} else {
		cfg := serverConfig{}
		if os.Getenv("MONGOTESTSERVER_PROBE_LOG") != "" {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
		srv, err := startServer(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := srv.Stop(shutdownTimeout); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
		p.uri = srv.URI()
	}

	client, err := mongo.Connect(options.Client().ApplyURI(p.uri).
		SetServerSelectionTimeout(10 * time.Second).
		// Decode nested documents as bson.M so the probes can inspect them.
		SetBSONOptions(&options.BSONOptions{DefaultDocumentM: true}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	p.client = client
	p.db = client.Database(fmt.Sprintf("probe_%d", time.Now().UnixNano()))
	t.Cleanup(func() { _ = p.db.Drop(context.Background()) })

	probes := []struct {
		name string
		fn   func(t *testing.T, p *prober)
	}{
		{"buildInfo", probeBuildInfo},
		{"uriOptions", probeURIOptions},
		{"createIndexes", probeCreateIndexes},
		{"insertManyDuplicates", probeInsertManyDuplicates},
		{"findOneAndUpdateClaim", probeFindOneAndUpdate},
		{"updateManyNested", probeUpdateManyNested},
		{"updateOneNested", probeUpdateOneNested},
		{"aggregateGroup", probeAggregate},
		{"countDocuments", probeCount},
		{"dottedPathQueries", probeDottedPaths},
		{"projectionExclude", probeProjection},
		{"bulkWriteUpdateOne", probeBulkWrite},
		{"deleteMany", probeDeleteMany},
		{"listCollectionNames", probeListCollections},
		{"upsertSetOnInsert", probeUpsert},
		{"binaryRoundTrip", probeBinary},
		{"int64AndTime", probeInt64Time},
		{"updateOperators", probeUpdateOperators},
		{"transactions", probeTransactions},
		{"concurrency", probeConcurrency},
	}
	for _, pr := range probes {
		t.Run(pr.name, func(t *testing.T) { pr.fn(t, p) })
	}

	report := p.table()
	t.Logf("capabilities of %s:\n%s", p.uri, report)
	if path := os.Getenv("MONGOTESTSERVER_PROBE_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func mustNoErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func probeBuildInfo(t *testing.T, p *prober) {
	var bi bson.M
	err := p.client.Database("admin").RunCommand(p.ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&bi)
	if err != nil {
		p.record(t, "`buildInfo` command", true, "no", "error: %v", err)
		return
	}
	fv, hasFV := bi["ferretdbVersion"]
	_, hasFeatures := bi["ferretdbFeatures"]
	notes := fmt.Sprintf("version=%q, ferretdbVersion present=%v (value %q), ferretdbFeatures present=%v",
		bi["version"], hasFV, fv, hasFeatures)
	if p.external {
		p.record(t, "`buildInfo` command", false, "yes", "%s", notes)
		return
	}
	status := "yes"
	if !hasFV {
		status = "partial"
	}
	p.record(t, "`buildInfo` identifies FerretDB", true, status, "%s; detect with `_, ok := buildInfo[\"ferretdbVersion\"]`", notes)
}

func probeURIOptions(t *testing.T, p *prober) {
	uri := strings.TrimSuffix(p.uri, "/") + "/?w=majority&retryWrites=true"
	if strings.Contains(p.uri, "?") {
		uri = p.uri + "&w=majority&retryWrites=true"
	}
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		p.record(t, "URI `w=majority&retryWrites=true`", true, "no", "connect: %v", err)
		return
	}
	defer c.Disconnect(context.Background())
	coll := c.Database(p.db.Name()).Collection("uriopts")
	if _, err := coll.InsertOne(p.ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}}); err != nil {
		p.record(t, "URI `w=majority&retryWrites=true`", true, "no", "insertOne: %v", err)
		return
	}
	var out bson.M
	err = coll.FindOneAndUpdate(p.ctx, bson.D{{Key: "_id", Value: "a"}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&out)
	if err != nil {
		p.record(t, "URI `w=majority&retryWrites=true`", true, "no", "findOneAndUpdate: %v", err)
		return
	}
	// Explicit per-collection write concern as well.
	wc := c.Database(p.db.Name()).Collection("uriopts",
		options.Collection().SetWriteConcern(writeconcern.Majority()))
	if _, err := wc.UpdateOne(p.ctx, bson.D{{Key: "_id", Value: "a"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}); err != nil {
		p.record(t, "URI `w=majority&retryWrites=true`", true, "no", "updateOne with majority: %v", err)
		return
	}
	p.record(t, "URI `w=majority&retryWrites=true`", true, "yes",
		"accepted; writes succeed (server is standalone, so the driver does not actually retry writes; majority is accepted and ignored)")
}

func probeCreateIndexes(t *testing.T, p *prober) {
	coll := p.db.Collection("indexes")
	names, err := coll.Indexes().CreateMany(p.ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "priority", Value: -1}, {Key: "seq", Value: 1}}},
		{Keys: bson.D{{Key: "key", Value: 1}}, Options: options.Index().SetUnique(true)},
		{Keys: bson.D{{Key: "lease.token", Value: 1}}},
	})
	if err != nil {
		p.record(t, "createIndexes (compound `{status:1,priority:-1,seq:1}`, unique `{key:1}`, nested `{lease.token:1}`)", true, "no", "%v", err)
		return
	}
	cur, err := coll.Indexes().List(p.ctx)
	mustNoErr(t, err, "listIndexes")
	var idx []bson.M
	mustNoErr(t, cur.All(p.ctx, &idx), "listIndexes all")
	var uniqueOK bool
	for _, ix := range idx {
		if ix["name"] == "key_1" && ix["unique"] == true {
			uniqueOK = true
		}
	}
	ok := uniqueOK && len(names) == 3
	p.record(t, "createIndexes of new specs (compound `{status:1,priority:-1,seq:1}`, unique `{key:1}`, nested `{lease.token:1}`)", true,
		map[bool]string{true: "yes", false: "no"}[ok], "names %v; listIndexes shows unique=%v", names, uniqueOK)

	// Re-creating existing indexes one per createIndexes call is a no-op.
	var oneErrs []error
	for _, m := range []mongo.IndexModel{
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "priority", Value: -1}, {Key: "seq", Value: 1}}},
		{Keys: bson.D{{Key: "key", Value: 1}}, Options: options.Index().SetUnique(true)},
		{Keys: bson.D{{Key: "lease.token", Value: 1}}},
	} {
		if _, err := coll.Indexes().CreateOne(p.ctx, m); err != nil {
			oneErrs = append(oneErrs, err)
		}
	}
	p.record(t, "re-create existing indexes, one index per call (`CreateOne`), idempotent", true,
		map[bool]string{true: "yes", false: "no"}[len(oneErrs) == 0], "errors: %v", oneErrs)

	// A mix of one new and one existing index in one call is fine...
	_, mixErr := coll.Indexes().CreateMany(p.ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "key", Value: 1}}, Options: options.Index().SetUnique(true)},
		{Keys: bson.D{{Key: "created", Value: 1}}},
	})
	cur, _ = coll.Indexes().List(p.ctx)
	idx = nil
	_ = cur.All(p.ctx, &idx)
	// ...but several already existing indexes in one call are not.
	_, manyErr := coll.Indexes().CreateMany(p.ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "status", Value: 1}, {Key: "priority", Value: -1}, {Key: "seq", Value: 1}}},
		{Keys: bson.D{{Key: "key", Value: 1}}, Options: options.Index().SetUnique(true)},
	})
	// [existing, existing, new]: the new index must be created.
	_, skipErr := coll.Indexes().CreateMany(p.ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "key", Value: 1}}, Options: options.Index().SetUnique(true)},
		{Keys: bson.D{{Key: "created", Value: 1}}},
		{Keys: bson.D{{Key: "updated", Value: 1}}},
	})
	cur, _ = coll.Indexes().List(p.ctx)
	var idx2 []bson.M
	_ = cur.All(p.ctx, &idx2)
	hasUpdated := false
	for _, ix := range idx2 {
		if ix["name"] == "updated_1" {
			hasUpdated = true
		}
	}
	p.record(t, "re-create several existing indexes in one createIndexes call (`CreateMany`)", false,
		map[bool]string{true: "yes", false: "no"}[manyErr == nil && mixErr == nil && len(idx) == 5 && skipErr == nil && hasUpdated],
		"[existing, new]: err=%v, %d indexes after (want 5); [existing, existing]: err=%v; "+
			"[existing, existing, new]: err=%v, new index created=%v. FerretDB bug (slices.Delete with a stale index in validateIndexesForCreation): "+
			"the server panics and drops the connection, or silently skips a new index; create indexes one per call instead",
		mixErr, len(idx), manyErr, skipErr, hasUpdated)
}

func probeInsertManyDuplicates(t *testing.T, p *prober) {
	coll := p.db.Collection("dups")
	_, err := coll.Indexes().CreateOne(p.ctx, mongo.IndexModel{Keys: bson.D{{Key: "key", Value: 1}}, Options: options.Index().SetUnique(true)})
	mustNoErr(t, err, "create unique index")
	_, err = coll.InsertMany(p.ctx, []any{
		bson.D{{Key: "_id", Value: "1"}, {Key: "key", Value: "a"}},
		bson.D{{Key: "_id", Value: "2"}, {Key: "key", Value: "b"}},
	})
	mustNoErr(t, err, "seed insert")

	// Batch: dup, new, dup (same key, different _id), new, dup _id.
	_, err = coll.InsertMany(p.ctx, []any{
		bson.D{{Key: "_id", Value: "3"}, {Key: "key", Value: "a"}},
		bson.D{{Key: "_id", Value: "4"}, {Key: "key", Value: "c"}},
		bson.D{{Key: "_id", Value: "5"}, {Key: "key", Value: "b"}},
		bson.D{{Key: "_id", Value: "6"}, {Key: "key", Value: "d"}},
		bson.D{{Key: "_id", Value: "1"}, {Key: "key", Value: "e"}},
	}, options.InsertMany().SetOrdered(false))

	var bwe mongo.BulkWriteException
	isBWE := errors.As(err, &bwe)
	var idx []string
	allDup := isBWE && len(bwe.WriteErrors) > 0
	var sampleMsg string
	if isBWE {
		for _, we := range bwe.WriteErrors {
			idx = append(idx, fmt.Sprintf("%d:%d", we.Index, we.Code))
			if we.Code != 11000 {
				allDup = false
			}
			if sampleMsg == "" {
				sampleMsg = we.Message
			}
		}
	}
	n, cerr := coll.CountDocuments(p.ctx, bson.D{})
	mustNoErr(t, cerr, "count")
	wantIdx := "0:11000,2:11000,4:11000"
	ok := isBWE && allDup && strings.Join(idx, ",") == wantIdx && n == 4 && mongo.IsDuplicateKeyError(err)
	status := "yes"
	if !ok {
		status = "no"
	}
	p.record(t, "insertMany `ordered:false` with unique index, duplicates", true, status,
		"error type %T, mongo.BulkWriteException=%v, writeErrors (index:code)=[%s], IsDuplicateKeyError=%v, docs after=%d (want 4: the non-duplicates are inserted); message e.g. %q",
		err, isBWE, strings.Join(idx, ","), mongo.IsDuplicateKeyError(err), n, sampleMsg)

	// Raw server reply of an unordered insert with one duplicate: is "n" the
	// number actually inserted, and what do the writeErrors look like?
	err = p.db.RunCommand(p.ctx, bson.D{
		{Key: "insert", Value: "dups"},
		{Key: "documents", Value: bson.A{
			bson.D{{Key: "_id", Value: "7"}, {Key: "key", Value: "a"}},
			bson.D{{Key: "_id", Value: "8"}, {Key: "key", Value: "f"}},
		}},
		{Key: "ordered", Value: false},
	}).Err()
	var rawWE mongo.WriteException
	var raw bson.M
	if errors.As(err, &rawWE) && rawWE.Raw != nil {
		_ = bson.Unmarshal(rawWE.Raw, &raw)
	}
	nVal := fmt.Sprint(raw["n"])
	p.record(t, "raw `insert` reply for partial failure", true, map[bool]string{true: "yes", false: "no"}[nVal == "1"],
		"reply n=%s (want 1: the count actually inserted), writeErrors=%v", nVal, raw["writeErrors"])

	// Single insertOne duplicate.
	_, err = coll.InsertOne(p.ctx, bson.D{{Key: "_id", Value: "9"}, {Key: "key", Value: "c"}})
	var we mongo.WriteException
	isWE := errors.As(err, &we)
	code := 0
	if isWE && len(we.WriteErrors) > 0 {
		code = we.WriteErrors[0].Code
	}
	p.record(t, "insertOne duplicate key", true, map[bool]string{true: "yes", false: "no"}[isWE && code == 11000 && mongo.IsDuplicateKeyError(err)],
		"error type %T, code %d, IsDuplicateKeyError=%v", err, code, mongo.IsDuplicateKeyError(err))
}

func claimDocs() []any {
	var docs []any
	// status, priority, seq
	rows := []struct {
		id, status string
		prio, seq  int64
	}{
		{"j1", "queued", 1, 1},
		{"j2", "queued", 5, 3},
		{"j3", "queued", 5, 2},
		{"j4", "running", 9, 0},
		{"j5", "queued", 3, 4},
	}
	for _, r := range rows {
		docs = append(docs, bson.D{
			{Key: "_id", Value: r.id}, {Key: "status", Value: r.status},
			{Key: "priority", Value: r.prio}, {Key: "seq", Value: r.seq},
			{Key: "attempts", Value: int32(0)},
		})
	}
	return docs
}

func probeFindOneAndUpdate(t *testing.T, p *prober) {
	coll := p.db.Collection("claim")
	_, err := coll.Indexes().CreateOne(p.ctx, mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "priority", Value: -1}, {Key: "seq", Value: 1}}})
	mustNoErr(t, err, "index")
	_, err = coll.InsertMany(p.ctx, claimDocs())
	mustNoErr(t, err, "seed")

	until := time.Now().Add(time.Minute).UTC().Truncate(time.Millisecond)
	var order []string
	var last bson.M
	for i := 0; i < 4; i++ {
		var out bson.M
		err := coll.FindOneAndUpdate(p.ctx,
			bson.D{{Key: "status", Value: "queued"}},
			bson.D{
				{Key: "$set", Value: bson.D{{Key: "status", Value: "running"}, {Key: "lease", Value: bson.D{{Key: "token", Value: fmt.Sprintf("t%d", i)}, {Key: "until", Value: until}}}}},
				{Key: "$inc", Value: bson.D{{Key: "attempts", Value: 1}}},
			},
			options.FindOneAndUpdate().
				SetSort(bson.D{{Key: "priority", Value: -1}, {Key: "seq", Value: 1}}).
				SetReturnDocument(options.After)).Decode(&out)
		if err != nil {
			p.record(t, "findOneAndUpdate sort `{priority:-1,seq:1}` + `$set`/`$inc`, returnDocument After", true, "no", "claim %d: %v", i, err)
			return
		}
		order = append(order, fmt.Sprint(out["_id"]))
		last = out
	}
	errNone := coll.FindOneAndUpdate(p.ctx, bson.D{{Key: "status", Value: "queued"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "running"}}}}).Err()

	lease, _ := last["lease"].(bson.M)
	gotUntil, _ := lease["until"].(bson.DateTime)
	ok := strings.Join(order, ",") == "j3,j2,j5,j1" &&
		last["status"] == "running" && fmt.Sprint(last["attempts"]) == "1" &&
		lease["token"] == "t3" && gotUntil.Time().Equal(until) &&
		errors.Is(errNone, mongo.ErrNoDocuments)
	p.record(t, "findOneAndUpdate sort `{priority:-1,seq:1}` + `$set`/`$inc`, returnDocument After", true, map[bool]string{true: "yes", false: "no"}[ok],
		"claim order %v (want j3,j2,j5,j1); returned post-image status=%v attempts=%v lease=%v; no match -> %v",
		order, last["status"], last["attempts"], lease, errNone)

	// Dotted $set path into a sub-document.
	res, err := coll.UpdateOne(p.ctx, bson.D{{Key: "_id", Value: "j3"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "lease.token", Value: "renewed"}}}})
	var j3 bson.M
	if err == nil {
		err = coll.FindOne(p.ctx, bson.D{{Key: "_id", Value: "j3"}}).Decode(&j3)
	}
	l3, _ := j3["lease"].(bson.M)
	ok = err == nil && res.ModifiedCount == 1 && l3["token"] == "renewed" && l3["until"] != nil
	p.record(t, "`$set` on dotted path (`lease.token`)", true, map[bool]string{true: "yes", false: "no"}[ok],
		"err=%v lease=%v", err, l3)
}

func probeUpdateManyNested(t *testing.T, p *prober) {
	coll := p.db.Collection("umany")
	docs := []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "status", Value: "running"}, {Key: "lease", Value: bson.D{{Key: "token", Value: "T"}}}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "status", Value: "running"}, {Key: "lease", Value: bson.D{{Key: "token", Value: "T"}}}},
		bson.D{{Key: "_id", Value: "c"}, {Key: "status", Value: "running"}, {Key: "lease", Value: bson.D{{Key: "token", Value: "OTHER"}}}},
		bson.D{{Key: "_id", Value: "d"}, {Key: "status", Value: "running"}, {Key: "lease", Value: bson.D{{Key: "token", Value: "T"}}}},
	}
	_, err := coll.InsertMany(p.ctx, docs)
	mustNoErr(t, err, "seed")
	res, err := coll.UpdateMany(p.ctx,
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"a", "b", "c", "zz"}}}}, {Key: "lease.token", Value: "T"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "done"}}}, {Key: "$unset", Value: bson.D{{Key: "lease", Value: ""}}}})
	if err != nil {
		p.record(t, "updateMany `_id $in` + nested filter `lease.token`", true, "no", "%v", err)
		return
	}
	n, _ := coll.CountDocuments(p.ctx, bson.D{{Key: "status", Value: "done"}, {Key: "lease", Value: bson.D{{Key: "$exists", Value: false}}}})
	ok := res.MatchedCount == 2 && res.ModifiedCount == 2 && n == 2
	p.record(t, "updateMany `_id $in` + nested filter `lease.token`", true, map[bool]string{true: "yes", false: "no"}[ok],
		"matched=%d modified=%d (want 2/2), done-without-lease=%d", res.MatchedCount, res.ModifiedCount, n)
}

func probeUpdateOneNested(t *testing.T, p *prober) {
	coll := p.db.Collection("uone")
	_, err := coll.InsertMany(p.ctx, []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "lease", Value: bson.D{{Key: "token", Value: "X"}}}, {Key: "n", Value: int32(0)}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "lease", Value: bson.D{{Key: "token", Value: "Y"}}}, {Key: "n", Value: int32(0)}},
	})
	mustNoErr(t, err, "seed")
	res, err := coll.UpdateOne(p.ctx, bson.D{{Key: "_id", Value: "b"}, {Key: "lease.token", Value: "Y"}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
	res2, err2 := coll.UpdateOne(p.ctx, bson.D{{Key: "_id", Value: "b"}, {Key: "lease.token", Value: "X"}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
	ok := err == nil && err2 == nil && res.MatchedCount == 1 && res.ModifiedCount == 1 && res2.MatchedCount == 0
	p.record(t, "updateOne with nested-field filter", true, map[bool]string{true: "yes", false: "no"}[ok],
		"match: %+v err=%v; stale token: matched=%v err=%v", res, err, func() any {
			if res2 == nil {
				return nil
			}
			return res2.MatchedCount
		}(), err2)
}

func probeAggregate(t *testing.T, p *prober) {
	coll := p.db.Collection("agg")
	_, err := coll.InsertMany(p.ctx, []any{
		bson.D{{Key: "status", Value: "queued"}, {Key: "q", Value: "x"}},
		bson.D{{Key: "status", Value: "queued"}, {Key: "q", Value: "x"}},
		bson.D{{Key: "status", Value: "running"}, {Key: "q", Value: "x"}},
		bson.D{{Key: "status", Value: "done"}, {Key: "q", Value: "y"}},
	})
	mustNoErr(t, err, "seed")
	cur, err := coll.Aggregate(p.ctx, mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "q", Value: "x"}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$status"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	})
	if err != nil {
		p.record(t, "aggregate `[$match, $group {_id:\"$status\", n:{$sum:1}}]`", true, "no", "%v", err)
		return
	}
	var rows []struct {
		ID string `bson:"_id"`
		N  int64  `bson:"n"`
	}
	mustNoErr(t, cur.All(p.ctx, &rows), "all")
	got := map[string]int64{}
	for _, r := range rows {
		got[r.ID] = r.N
	}
	ok := len(got) == 2 && got["queued"] == 2 && got["running"] == 1
	p.record(t, "aggregate `[$match, $group {_id:\"$status\", n:{$sum:1}}]`", true, map[bool]string{true: "yes", false: "no"}[ok],
		"groups %v (n decodes into int64; server sends int32)", got)
}

func probeCount(t *testing.T, p *prober) {
	coll := p.db.Collection("agg") // seeded by probeAggregate
	n, err := coll.CountDocuments(p.ctx, bson.D{{Key: "status", Value: "queued"}})
	n2, err2 := coll.CountDocuments(p.ctx, bson.D{}, options.Count().SetLimit(3))
	est, err3 := coll.EstimatedDocumentCount(p.ctx)
	ok := err == nil && n == 2 && err2 == nil && n2 == 3
	p.record(t, "countDocuments (filter, limit)", true, map[bool]string{true: "yes", false: "no"}[ok],
		"filtered=%d (want 2) err=%v; limit 3 -> %d err=%v; estimatedDocumentCount=%d err=%v", n, err, n2, err2, est, err3)
}

func probeDottedPaths(t *testing.T, p *prober) {
	coll := p.db.Collection("dotted")
	mk := func(id string, filter bson.D) bson.D {
		d := bson.D{{Key: "_id", Value: id}}
		if filter != nil {
			d = append(d, bson.E{Key: "filter", Value: filter})
		}
		return d
	}
	_, err := coll.InsertMany(p.ctx, []any{
		mk("gpu-big", bson.D{{Key: "model", Value: bson.D{{Key: "class", Value: "gpu"}, {Key: "mem", Value: int64(80)}}}}),
		mk("gpu-small", bson.D{{Key: "model", Value: bson.D{{Key: "class", Value: "gpu"}, {Key: "mem", Value: int64(16)}}}}),
		mk("cpu", bson.D{{Key: "model", Value: bson.D{{Key: "class", Value: "cpu"}}}}),
		mk("nomodel", bson.D{{Key: "region", Value: "eu"}}),
		mk("nofilter", nil),
	})
	mustNoErr(t, err, "seed")

	cases := []struct {
		name   string
		filter bson.D
		want   string
	}{
		{"eq", bson.D{{Key: "filter.model.class", Value: "gpu"}}, "gpu-big,gpu-small"},
		{"$in", bson.D{{Key: "filter.model.class", Value: bson.D{{Key: "$in", Value: bson.A{"cpu", "tpu"}}}}}, "cpu"},
		{"$nin", bson.D{{Key: "filter.model.class", Value: bson.D{{Key: "$nin", Value: bson.A{"gpu"}}}}}, "cpu,nofilter,nomodel"},
		{"$exists:true", bson.D{{Key: "filter.model.class", Value: bson.D{{Key: "$exists", Value: true}}}}, "cpu,gpu-big,gpu-small"},
		{"$exists:false", bson.D{{Key: "filter.model.class", Value: bson.D{{Key: "$exists", Value: false}}}}, "nofilter,nomodel"},
		{"$gt", bson.D{{Key: "filter.model.mem", Value: bson.D{{Key: "$gt", Value: int64(20)}}}}, "gpu-big"},
		{"$ne", bson.D{{Key: "filter.model.class", Value: bson.D{{Key: "$ne", Value: "gpu"}}}}, "cpu,nofilter,nomodel"},
		{"$or", bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "filter.model.class", Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "filter.model.class", Value: "cpu"}},
		}}}, "cpu,nofilter,nomodel"},
		{"$and+$eq+$gte+$lte", bson.D{{Key: "$and", Value: bson.A{
			bson.D{{Key: "filter.model.class", Value: bson.D{{Key: "$eq", Value: "gpu"}}}},
			bson.D{{Key: "filter.model.mem", Value: bson.D{{Key: "$gte", Value: int64(16)}}}},
			bson.D{{Key: "filter.model.mem", Value: bson.D{{Key: "$lte", Value: int32(16)}}}},
		}}}, "gpu-small"},
		{"$and nested in top-level filter", bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"gpu-big", "cpu"}}}}, {Key: "$and", Value: bson.A{
			bson.D{{Key: "filter.model.class", Value: bson.D{{Key: "$ne", Value: "cpu"}}}},
		}}}, "gpu-big"},
	}
	var bad []string
	var okNames []string
	for _, c := range cases {
		cur, err := coll.Find(p.ctx, c.filter)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", c.name, err))
			continue
		}
		var docs []bson.M
		if err := cur.All(p.ctx, &docs); err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", c.name, err))
			continue
		}
		var ids []string
		for _, d := range docs {
			ids = append(ids, fmt.Sprint(d["_id"]))
		}
		sort.Strings(ids)
		if got := strings.Join(ids, ","); got != c.want {
			bad = append(bad, fmt.Sprintf("%s: got [%s] want [%s]", c.name, got, c.want))
		} else {
			okNames = append(okNames, c.name)
		}
	}
	// Sort + limit on a dotted path.
	cur, err := coll.Find(p.ctx, bson.D{{Key: "filter.model.mem", Value: bson.D{{Key: "$exists", Value: true}}}},
		options.Find().SetSort(bson.D{{Key: "filter.model.mem", Value: -1}, {Key: "_id", Value: 1}}).SetLimit(1))
	var top []bson.M
	if err == nil {
		err = cur.All(p.ctx, &top)
	}
	if err != nil || len(top) != 1 || top[0]["_id"] != "gpu-big" {
		bad = append(bad, fmt.Sprintf("sort+limit: %v err=%v", top, err))
	} else {
		okNames = append(okNames, "sort+limit")
	}
	status := "yes"
	if len(bad) > 0 {
		status = "no"
	}
	p.record(t, "find on dotted paths into a sub-document (`filter.model.class`): eq, `$in`, `$nin`, `$exists`, `$gt`, `$ne`, `$or`, `$and`/`$eq`/`$gte`/`$lte`, sort+limit", true, status,
		"matching MongoDB semantics (missing fields match `$nin`/`$ne`): ok %v; failures %v", okNames, bad)
}

func probeProjection(t *testing.T, p *prober) {
	coll := p.db.Collection("proj")
	payload := bytes.Repeat([]byte{0xde, 0xad}, 512)
	_, err := coll.InsertOne(p.ctx, bson.D{
		{Key: "_id", Value: "a"}, {Key: "name", Value: "n"},
		{Key: "payload", Value: bson.Binary{Subtype: 0, Data: payload}},
		{Key: "result", Value: bson.Binary{Subtype: 0, Data: []byte("r")}},
		{Key: "lease", Value: bson.D{{Key: "token", Value: "t"}, {Key: "blob", Value: []byte("x")}}},
	})
	mustNoErr(t, err, "seed")
	var out bson.M
	err = coll.FindOne(p.ctx, bson.D{{Key: "_id", Value: "a"}},
		options.FindOne().SetProjection(bson.D{{Key: "payload", Value: 0}, {Key: "result", Value: 0}, {Key: "lease.blob", Value: 0}})).Decode(&out)
	_, hasPayload := out["payload"]
	_, hasResult := out["result"]
	lease, _ := out["lease"].(bson.M)
	_, hasBlob := lease["blob"]
	ok := err == nil && !hasPayload && !hasResult && out["name"] == "n" && lease["token"] == "t" && !hasBlob

	cur, err2 := coll.Find(p.ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "payload", Value: 0}}))
	var all []bson.M
	if err2 == nil {
		err2 = cur.All(p.ctx, &all)
	}
	ok = ok && err2 == nil && len(all) == 1 && all[0]["payload"] == nil
	p.record(t, "find/findOne with exclusion projection (binary fields, dotted `lease.blob`)", true, map[bool]string{true: "yes", false: "no"}[ok],
		"findOne err=%v fields=%v; find err=%v", err, keys(out), err2)
}

func keys(m bson.M) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func probeBulkWrite(t *testing.T, p *prober) {
	coll := p.db.Collection("bulk")
	_, err := coll.InsertMany(p.ctx, []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "v", Value: int32(0)}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "v", Value: int32(0)}},
		bson.D{{Key: "_id", Value: "c"}, {Key: "v", Value: int32(0)}},
	})
	mustNoErr(t, err, "seed")
	models := []mongo.WriteModel{
		mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: "a"}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: int32(1)}}}}),
		mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: "b"}}).SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: int32(2)}}}}),
		mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: "missing"}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: int32(3)}}}}),
		mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: "up"}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: int32(4)}}}}).SetUpsert(true),
	}
	res, err := coll.BulkWrite(p.ctx, models, options.BulkWrite().SetOrdered(false))
	if err != nil {
		p.record(t, "bulkWrite of updateOne models (ordered:false, one upsert)", true, "no", "%v", err)
		return
	}
	n, _ := coll.CountDocuments(p.ctx, bson.D{})
	ok := res.MatchedCount == 2 && res.ModifiedCount == 2 && res.UpsertedCount == 1 && n == 4
	p.record(t, "bulkWrite of updateOne models (ordered:false, one upsert)", true, map[bool]string{true: "yes", false: "no"}[ok],
		"matched=%d modified=%d upserted=%d (want 2/2/1), docs=%d", res.MatchedCount, res.ModifiedCount, res.UpsertedCount, n)
}

func probeDeleteMany(t *testing.T, p *prober) {
	coll := p.db.Collection("del")
	_, err := coll.InsertMany(p.ctx, []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "status", Value: "done"}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "status", Value: "done"}},
		bson.D{{Key: "_id", Value: "c"}, {Key: "status", Value: "queued"}},
	})
	mustNoErr(t, err, "seed")
	res, err := coll.DeleteMany(p.ctx, bson.D{{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{"done", "failed"}}}}})
	n, _ := coll.CountDocuments(p.ctx, bson.D{})
	ok := err == nil && res.DeletedCount == 2 && n == 1
	p.record(t, "deleteMany", true, map[bool]string{true: "yes", false: "no"}[ok], "deleted=%v err=%v remaining=%d", res, err, n)
}

func probeListCollections(t *testing.T, p *prober) {
	names, err := p.db.ListCollectionNames(p.ctx, bson.D{})
	sort.Strings(names)
	has := func(n string) bool {
		i := sort.SearchStrings(names, n)
		return i < len(names) && names[i] == n
	}
	filtered, err2 := p.db.ListCollectionNames(p.ctx, bson.D{{Key: "name", Value: "claim"}})
	ok := err == nil && has("claim") && has("dups") && err2 == nil && len(filtered) == 1
	p.record(t, "listCollectionNames (with and without name filter)", true, map[bool]string{true: "yes", false: "no"}[ok],
		"%d names, err=%v; filter {name:\"claim\"} -> %v err=%v", len(names), err, filtered, err2)
}

func probeUpsert(t *testing.T, p *prober) {
	coll := p.db.Collection("upsert")
	created := time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC)
	upd := func(v int32, c time.Time) (*mongo.UpdateResult, error) {
		return coll.UpdateOne(p.ctx, bson.D{{Key: "_id", Value: "w1"}},
			bson.D{
				{Key: "$setOnInsert", Value: bson.D{{Key: "created", Value: c}}},
				{Key: "$set", Value: bson.D{{Key: "v", Value: v}}},
			}, options.UpdateOne().SetUpsert(true))
	}
	r1, err1 := upd(1, created)
	r2, err2 := upd(2, created.Add(time.Hour))
	var out bson.M
	err3 := coll.FindOne(p.ctx, bson.D{{Key: "_id", Value: "w1"}}).Decode(&out)
	got, _ := out["created"].(bson.DateTime)
	ok := err1 == nil && err2 == nil && err3 == nil && r1.UpsertedCount == 1 && r1.UpsertedID == "w1" &&
		r2.UpsertedCount == 0 && r2.MatchedCount == 1 && got.Time().Equal(created) && fmt.Sprint(out["v"]) == "2"
	p.record(t, "updateOne upsert with `$setOnInsert`", true, map[bool]string{true: "yes", false: "no"}[ok],
		"first: %+v err=%v; second: %+v err=%v; doc=%v", r1, err1, r2, err2, out)

	// findOneAndUpdate upsert as well.
	var fo bson.M
	err := coll.FindOneAndUpdate(p.ctx, bson.D{{Key: "_id", Value: "w2"}},
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "created", Value: created}}}, {Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&fo)
	p.record(t, "findOneAndUpdate upsert with `$setOnInsert`, returnDocument After", true,
		map[bool]string{true: "yes", false: "no"}[err == nil && fo["_id"] == "w2" && fmt.Sprint(fo["n"]) == "1" && fo["created"] != nil],
		"doc=%v err=%v", fo, err)
}

func probeBinary(t *testing.T, p *prober) {
	coll := p.db.Collection("bin")
	data := make([]byte, 4096)
	for i := range data {
		data[i] = byte(i * 7)
	}
	uuid := bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}
	_, err := coll.InsertOne(p.ctx, bson.D{
		{Key: "_id", Value: "b"},
		{Key: "raw", Value: data},
		{Key: "generic", Value: bson.Binary{Subtype: 0, Data: data}},
		{Key: "uuid", Value: uuid},
		{Key: "empty", Value: []byte{}},
	})
	mustNoErr(t, err, "insert")
	var out struct {
		Raw     []byte      `bson:"raw"`
		Generic bson.Binary `bson:"generic"`
		UUID    bson.Binary `bson:"uuid"`
		Empty   []byte      `bson:"empty"`
	}
	err = coll.FindOne(p.ctx, bson.D{{Key: "_id", Value: "b"}}).Decode(&out)
	// Query by binary equality too.
	n, err2 := coll.CountDocuments(p.ctx, bson.D{{Key: "uuid", Value: uuid}})
	ok := err == nil && bytes.Equal(out.Raw, data) && bytes.Equal(out.Generic.Data, data) && out.Generic.Subtype == 0 &&
		out.UUID.Subtype == 4 && bytes.Equal(out.UUID.Data, uuid.Data) && out.Empty != nil && len(out.Empty) == 0 &&
		err2 == nil && n == 1
	p.record(t, "BinData round trip (subtype 0 and 4, 4 KiB, empty) and equality match", true, map[bool]string{true: "yes", false: "no"}[ok],
		"err=%v; uuid subtype=%d; empty=%v; match count=%d err=%v", err, out.UUID.Subtype, out.Empty, n, err2)
}

func probeInt64Time(t *testing.T, p *prober) {
	coll := p.db.Collection("numtime")
	base := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.UTC)
	big := int64(1)<<62 + 1 // not representable as float64
	vals := []struct {
		id  string
		n   int64
		at  time.Time
		f64 float64
	}{
		{"a", big, base.Add(3 * time.Second), 1.5},
		{"b", big - 1, base.Add(1 * time.Second), 2.5},
		{"c", -5, base.Add(2 * time.Second), -1},
		{"d", 1 << 53, base, 0},
	}
	var docs []any
	for _, v := range vals {
		docs = append(docs, bson.D{{Key: "_id", Value: v.id}, {Key: "n", Value: v.n}, {Key: "at", Value: v.at}, {Key: "f", Value: v.f64}})
	}
	_, err := coll.InsertMany(p.ctx, docs)
	mustNoErr(t, err, "seed")

	type row struct {
		ID string    `bson:"_id"`
		N  int64     `bson:"n"`
		At time.Time `bson:"at"`
	}
	var rawA bson.M
	_ = coll.FindOne(p.ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&rawA)
	nType := fmt.Sprintf("%T", rawA["n"])
	atType := fmt.Sprintf("%T", rawA["at"])

	find := func(filter bson.D, sortSpec bson.D) ([]row, error) {
		cur, err := coll.Find(p.ctx, filter, options.Find().SetSort(sortSpec))
		if err != nil {
			return nil, err
		}
		var rows []row
		err = cur.All(p.ctx, &rows)
		return rows, err
	}
	ids := func(rs []row) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.ID)
		}
		return strings.Join(s, ",")
	}
	byN, err1 := find(bson.D{}, bson.D{{Key: "n", Value: 1}})
	byAt, err2 := find(bson.D{}, bson.D{{Key: "at", Value: -1}})
	gtBig, err3 := find(bson.D{{Key: "n", Value: bson.D{{Key: "$gt", Value: big - 1}}}}, bson.D{{Key: "_id", Value: 1}})
	eqBig, err4 := find(bson.D{{Key: "n", Value: big}}, bson.D{{Key: "_id", Value: 1}})
	ltAt, err5 := find(bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: base.Add(1500 * time.Millisecond)}}}}, bson.D{{Key: "at", Value: 1}})

	var aRow row
	for _, r := range byN {
		if r.ID == "a" {
			aRow = r
		}
	}
	okInt := err1 == nil && ids(byN) == "c,d,b,a" && aRow.N == big && nType == "int64" && err3 == nil && ids(gtBig) == "a" && err4 == nil && ids(eqBig) == "a"
	p.record(t, "int64 round trip (2^62+1), sort, `$gt`/eq on large int64", true, map[bool]string{true: "yes", false: "no"}[okInt],
		"decoded type %s, value exact=%v; sort n asc %q (want c,d,b,a) err=%v; $gt big-1 -> %q err=%v; eq big -> %q err=%v",
		nType, aRow.N == big, ids(byN), err1, ids(gtBig), err3, ids(eqBig), err4)

	wantAt := base.Add(3 * time.Second).Truncate(time.Millisecond)
	okTime := err2 == nil && ids(byAt) == "a,c,b,d" && atType == "bson.DateTime" && aRow.At.Equal(wantAt) && err5 == nil && ids(ltAt) == "d,b"
	p.record(t, "BSON datetime round trip (ms precision), sort, `$lt`", true, map[bool]string{true: "yes", false: "no"}[okTime],
		"decoded type %s, value %s (want %s, i.e. truncated to ms like MongoDB); sort at desc %q (want a,c,b,d) err=%v; $lt -> %q err=%v",
		atType, aRow.At.UTC().Format(time.RFC3339Nano), wantAt.Format(time.RFC3339Nano), ids(byAt), err2, ids(ltAt), err5)

	// Sort with mixed int32/int64/double in the same field.
	_, _ = coll.InsertOne(p.ctx, bson.D{{Key: "_id", Value: "e"}, {Key: "n", Value: int32(7)}})
	mixed, err6 := find(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"c", "e", "d"}}}}}, bson.D{{Key: "n", Value: 1}})
	p.record(t, "sort over mixed int32/int64 numeric values", true, map[bool]string{true: "yes", false: "no"}[err6 == nil && ids(mixed) == "c,e,d"],
		"%q (want c,e,d) err=%v", ids(mixed), err6)
}

func probeUpdateOperators(t *testing.T, p *prober) {
	coll := p.db.Collection("ops")
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := coll.InsertOne(p.ctx, bson.D{
		{Key: "_id", Value: "x"}, {Key: "hi", Value: int64(5)}, {Key: "lo", Value: int64(5)},
		{Key: "seen", Value: t0}, {Key: "tmp", Value: "y"}, {Key: "nested", Value: bson.D{{Key: "gone", Value: 1}, {Key: "kept", Value: 2}}},
		{Key: "log", Value: bson.A{"a"}},
	})
	mustNoErr(t, err, "seed")
	get := func() bson.M {
		var out bson.M
		_ = coll.FindOne(p.ctx, bson.D{{Key: "_id", Value: "x"}}).Decode(&out)
		return out
	}
	upd := func(u bson.D) error {
		_, err := coll.UpdateOne(p.ctx, bson.D{{Key: "_id", Value: "x"}}, u)
		return err
	}

	// $max / $min
	e1 := upd(bson.D{{Key: "$max", Value: bson.D{{Key: "hi", Value: int64(9)}, {Key: "seen", Value: t0.Add(time.Hour)}, {Key: "newmax", Value: int64(1)}}},
		{Key: "$min", Value: bson.D{{Key: "lo", Value: int64(2)}}}})
	e2 := upd(bson.D{{Key: "$max", Value: bson.D{{Key: "hi", Value: int64(3)}, {Key: "seen", Value: t0}}}, {Key: "$min", Value: bson.D{{Key: "lo", Value: int64(4)}}}})
	d := get()
	seen, _ := d["seen"].(bson.DateTime)
	okMax := e1 == nil && e2 == nil && fmt.Sprint(d["hi"]) == "9" && fmt.Sprint(d["lo"]) == "2" && seen.Time().Equal(t0.Add(time.Hour)) && fmt.Sprint(d["newmax"]) == "1"
	p.record(t, "`$max` / `$min` update operators (int64, datetime, missing field)", true, map[bool]string{true: "yes", false: "no"}[okMax],
		"hi=%v lo=%v seen=%v newmax=%v errs=%v,%v", d["hi"], d["lo"], seen.Time().UTC(), d["newmax"], e1, e2)

	// $unset
	e3 := upd(bson.D{{Key: "$unset", Value: bson.D{{Key: "tmp", Value: ""}, {Key: "nested.gone", Value: ""}, {Key: "absent", Value: ""}}}})
	d = get()
	_, hasTmp := d["tmp"]
	nested, _ := d["nested"].(bson.M)
	_, hasGone := nested["gone"]
	p.record(t, "`$unset` (top-level, dotted, absent field)", true, map[bool]string{true: "yes", false: "no"}[e3 == nil && !hasTmp && !hasGone && nested["kept"] != nil],
		"err=%v tmp present=%v nested=%v", e3, hasTmp, nested)

	// $push, $push $each + $slice
	e4 := upd(bson.D{{Key: "$push", Value: bson.D{{Key: "log", Value: "b"}, {Key: "fresh", Value: "z"}}}})
	d = get()
	afterPush, fresh := fmt.Sprint(d["log"]), fmt.Sprint(d["fresh"])
	e5 := upd(bson.D{{Key: "$push", Value: bson.D{{Key: "log", Value: bson.D{{Key: "$each", Value: bson.A{"c", "d"}}, {Key: "$slice", Value: -3}}}}}})
	d = get()
	logStr := fmt.Sprint(d["log"])
	p.record(t, "`$push` (existing array, new field)", true, map[bool]string{true: "yes", false: "no"}[e4 == nil && afterPush == "[a b]" && fresh == "[z]"],
		"err=%v log=%v fresh=%v", e4, afterPush, fresh)
	p.record(t, "`$push` with `$each`", true, map[bool]string{true: "yes", false: "no"}[e5 == nil && strings.HasSuffix(logStr, "c d]")],
		"err=%v log=%v", e5, logStr)
	p.record(t, "`$push` with `$each` + `$slice`", false, map[bool]string{true: "yes", false: "no"}[e5 == nil && logStr == "[b c d]"],
		"err=%v log=%v (want [b c d]); `$slice` (also `$sort`/`$position`) inside `$push` is silently ignored", e5, logStr)

	// $currentDate and $addToSet, commonly handy.
	e6 := upd(bson.D{{Key: "$currentDate", Value: bson.D{{Key: "touched", Value: true}}}, {Key: "$addToSet", Value: bson.D{{Key: "tags", Value: "t"}}}})
	d = get()
	_, isDT := d["touched"].(bson.DateTime)
	p.record(t, "`$currentDate`, `$addToSet`", false, map[bool]string{true: "yes", false: "no"}[e6 == nil && isDT && fmt.Sprint(d["tags"]) == "[t]"],
		"err=%v touched=%T tags=%v", e6, d["touched"], d["tags"])
}

func probeTransactions(t *testing.T, p *prober) {
	coll := p.db.Collection("txn")
	_, _ = coll.InsertOne(p.ctx, bson.D{{Key: "_id", Value: "seed"}}) // create collection outside the transaction
	sess, err := p.client.StartSession()
	if err != nil {
		p.record(t, "multi-document transactions", false, "no", "StartSession: %v", err)
		return
	}
	defer sess.EndSession(context.Background())
	ctx := mongo.NewSessionContext(p.ctx, sess)
	if err := sess.StartTransaction(); err != nil {
		p.record(t, "multi-document transactions", false, "no", "StartTransaction: %v", err)
		return
	}
	_, insErr := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "in-txn"}})
	abortErr := sess.AbortTransaction(ctx)
	n, _ := coll.CountDocuments(p.ctx, bson.D{{Key: "_id", Value: "in-txn"}})

	// Commit path.
	var commitErr, ins2Err error
	if err := sess.StartTransaction(); err == nil {
		_, ins2Err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "in-txn-2"}})
		commitErr = sess.CommitTransaction(ctx)
	}
	status := "no"
	if insErr == nil && abortErr == nil && n == 0 && ins2Err == nil && commitErr == nil {
		status = "yes"
	}
	p.record(t, "multi-document transactions (start/abort/commit)", false, status,
		"insert in txn: %v; abort: %v; doc visible after abort: %v; commit path: insert %v, commit %v",
		errText(insErr), errText(abortErr), n == 1, errText(ins2Err), errText(commitErr))
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return fmt.Sprintf("CommandError code %d (%s): %s", ce.Code, ce.Name, ce.Message)
	}
	return err.Error()
}

// probeConcurrency reports (does not assert) whether read-modify-write
// operations are atomic under concurrency. Bounded: a few goroutines, a few
// dozen documents, loopback only.
func probeConcurrency(t *testing.T, p *prober) {
	const workers, jobs = 8, 40

	// 1. Concurrent claim with findOneAndUpdate.
	coll := p.db.Collection("race_claim")
	var docs []any
	for i := 0; i < jobs; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("j%02d", i)}, {Key: "status", Value: "queued"}, {Key: "priority", Value: int32(0)}, {Key: "seq", Value: int64(i)}})
	}
	_, err := coll.InsertMany(p.ctx, docs)
	mustNoErr(t, err, "seed")
	var mu sync.Mutex
	claims := map[string]int{}
	var total int
	var wg sync.WaitGroup
	deadline := time.Now().Add(10 * time.Second)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				var out bson.M
				err := coll.FindOneAndUpdate(p.ctx, bson.D{{Key: "status", Value: "queued"}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "running"}, {Key: "owner", Value: w}}}},
					options.FindOneAndUpdate().SetSort(bson.D{{Key: "priority", Value: -1}, {Key: "seq", Value: 1}}).SetReturnDocument(options.After)).Decode(&out)
				if err != nil {
					return // ErrNoDocuments or failure: stop
				}
				mu.Lock()
				claims[fmt.Sprint(out["_id"])]++
				total++
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	dbl := 0
	for _, c := range claims {
		if c > 1 {
			dbl++
		}
	}
	p.record(t, "concurrent findOneAndUpdate claims are exclusive", false, map[bool]string{true: "yes", false: "no"}[dbl == 0 && total == jobs],
		"%d workers, %d jobs: %d claims returned, %d jobs claimed more than once (MongoDB: exactly %d, none twice)", workers, jobs, total, dbl, jobs)

	// 2. Conditional updateOne (compare-and-set on status).
	coll2 := p.db.Collection("race_cas")
	var docs2 []any
	for i := 0; i < jobs; i++ {
		docs2 = append(docs2, bson.D{{Key: "_id", Value: i}, {Key: "status", Value: "queued"}})
	}
	_, err = coll2.InsertMany(p.ctx, docs2)
	mustNoErr(t, err, "seed2")
	wins := make([]int, jobs)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < jobs; i++ {
				res, err := coll2.UpdateOne(p.ctx, bson.D{{Key: "_id", Value: i}, {Key: "status", Value: "queued"}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "running"}, {Key: "owner", Value: w}}}})
				if err == nil && res.ModifiedCount == 1 {
					mu.Lock()
					wins[i]++
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	multi := 0
	for _, c := range wins {
		if c > 1 {
			multi++
		}
	}
	p.record(t, "concurrent conditional updateOne (`{_id, status:\"queued\"}` -> running) has one winner", false, map[bool]string{true: "yes", false: "no"}[multi == 0],
		"%d of %d documents reported modified by more than one worker", multi, jobs)

	// 3. Unique index under concurrent inserts.
	coll3 := p.db.Collection("race_unique")
	_, err = coll3.Indexes().CreateOne(p.ctx, mongo.IndexModel{Keys: bson.D{{Key: "key", Value: 1}}, Options: options.Index().SetUnique(true)})
	mustNoErr(t, err, "index3")
	okCount, dupCount, otherErr := 0, 0, 0
	for round := 0; round < 10; round++ {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := coll3.InsertOne(p.ctx, bson.D{{Key: "key", Value: fmt.Sprintf("k%d", round)}})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					okCount++
				case mongo.IsDuplicateKeyError(err):
					dupCount++
				default:
					otherErr++
				}
			}()
		}
		wg.Wait()
	}
	p.record(t, "unique index under concurrent inserts (one winner per key)", false, map[bool]string{true: "yes", false: "no"}[okCount == 10 && otherErr == 0],
		"10 keys x %d inserters: %d inserted (want 10), %d duplicate-key errors, %d other errors", workers, okCount, dupCount, otherErr)
}
