package serialproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// startFerretDB runs an embedded FerretDB (SQLite) for one test and
// returns its address.
func startFerretDB(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/"}).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	u, err := url.Parse(f.MongoDBURI())
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func startProxy(t *testing.T, backend string) *Proxy {
	t.Helper()
	p, err := Start(Config{Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func connect(t *testing.T, addr string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + addr + "/").SetTimeout(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

// recorder is a TCP relay in front of the real server that counts the
// commands (other than handshakes) in flight at the server: forwarded,
// reply not yet sent back.
type recorder struct {
	ln       net.Listener
	backend  string
	inFlight atomic.Int64
	maxSeen  atomic.Int64
	commands atomic.Int64
}

func startRecorder(t *testing.T, backend string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln, backend: backend}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", backend)
			if err != nil {
				_ = c.Close()
				continue
			}
			var mu sync.Mutex
			counted := map[uint32]bool{}
			stop := func() { _ = c.Close(); _ = s.Close() }
			wg.Go(func() {
				defer stop()
				for {
					msg, err := readMessage(c)
					if err != nil {
						return
					}
					if req := parseRequest(msg); !isHandshake(req.command) {
						mu.Lock()
						counted[le.Uint32(msg[4:8])] = true
						mu.Unlock()
						r.commands.Add(1)
						n := r.inFlight.Add(1)
						for m := r.maxSeen.Load(); n > m && !r.maxSeen.CompareAndSwap(m, n); m = r.maxSeen.Load() {
						}
					}
					if _, err := s.Write(msg); err != nil {
						return
					}
				}
			})
			wg.Go(func() {
				defer stop()
				for {
					reply, err := readMessage(s)
					if err != nil {
						return
					}
					mu.Lock()
					to := le.Uint32(reply[8:12])
					if counted[to] {
						delete(counted, to)
						r.inFlight.Add(-1)
					}
					mu.Unlock()
					if _, err := c.Write(reply); err != nil {
						return
					}
				}
			})
		}
	})
	return r
}

// TestCommandsNeverOverlap claims 120 documents with findOneAndUpdate from
// 8 goroutines through the proxy: the server never has two commands in
// flight, and no document is claimed twice (FerretDB alone hands the same
// document to several claimers).
func TestCommandsNeverOverlap(t *testing.T) {
	rec := startRecorder(t, startFerretDB(t))
	p := startProxy(t, rec.ln.Addr().String())
	coll := connect(t, p.Addr()).Database("serial").Collection("jobs")
	ctx := t.Context()

	const jobs, claimers = 120, 8
	docs := make([]any, jobs)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "status", Value: "queued"}, {Key: "seq", Value: i}}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		claims = map[int32]int{}
		wg     sync.WaitGroup
		errs   = make(chan error, claimers)
	)
	for w := range claimers {
		wg.Go(func() {
			for {
				var got struct {
					ID int32 `bson:"_id"`
				}
				err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "status", Value: "queued"}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "running"}, {Key: "owner", Value: w}}}},
					options.FindOneAndUpdate().SetSort(bson.D{{Key: "seq", Value: 1}})).Decode(&got)
				if errors.Is(err, mongo.ErrNoDocuments) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				claims[got.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(claims) != jobs {
		t.Errorf("%d documents claimed, want %d", len(claims), jobs)
	}
	for id, n := range claims {
		if n != 1 {
			t.Errorf("document %d claimed %d times", id, n)
		}
	}
	if got := rec.maxSeen.Load(); got != 1 {
		t.Errorf("at most %d commands were in flight at the server at once, want 1", got)
	}
	if got := rec.commands.Load(); got < jobs+claimers {
		t.Errorf("the recorder saw %d commands, want at least %d: it is not on the path", got, jobs+claimers)
	}
}

// rawConn is a wire-level client for the handshake and moreToCome tests.
type rawConn struct {
	t *testing.T
	net.Conn
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: t, Conn: c}
}

// opMsg returns an OP_MSG with one body section.
func newOpMsg(t *testing.T, requestID, flags uint32, body bson.D) []byte {
	t.Helper()
	doc, err := bson.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, headerLen+4+1, headerLen+5+len(doc))
	le.PutUint32(msg[4:], requestID)
	le.PutUint32(msg[12:], opMsg)
	le.PutUint32(msg[16:], flags)
	msg = append(msg, doc...)
	le.PutUint32(msg[0:], uint32(len(msg)))
	return msg
}

func (c *rawConn) send(msg []byte) {
	c.t.Helper()
	if _, err := c.Write(msg); err != nil {
		c.t.Fatal(err)
	}
}

// reply reads one reply and returns its responseTo and body.
func (c *rawConn) reply() (uint32, bson.Raw, error) {
	msg, err := readMessage(c)
	if err != nil {
		return 0, nil, err
	}
	if le.Uint32(msg[12:16]) != opMsg || len(msg) < headerLen+5 || msg[20] != 0 {
		return 0, nil, fmt.Errorf("unexpected reply % x", msg[:min(len(msg), 32)])
	}
	return le.Uint32(msg[8:12]), bson.Raw(msg[21:]), nil
}

// TestHandshakeSkipsLock holds the lock: a ping waits for it, a hello
// does not.
func TestHandshakeSkipsLock(t *testing.T) {
	p := startProxy(t, startFerretDB(t))
	p.mu.Lock()
	locked := true
	defer func() {
		if locked {
			p.mu.Unlock()
		}
	}()

	pinger := dialRaw(t, p.Addr())
	pinger.send(newOpMsg(t, 1, 0, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}))
	pinged := make(chan error, 1)
	go func() {
		to, body, err := pinger.reply()
		if err == nil && (to != 1 || body.Lookup("ok").AsFloat64() != 1) {
			err = fmt.Errorf("ping reply to %d: %v", to, body)
		}
		pinged <- err
	}()

	for _, cmd := range []string{"hello", "isMaster"} {
		c := dialRaw(t, p.Addr())
		c.send(newOpMsg(t, 7, 0, bson.D{{Key: cmd, Value: 1}, {Key: "$db", Value: "admin"}}))
		to, body, err := c.reply()
		if err != nil {
			t.Fatalf("%s while the lock is held: %v", cmd, err)
		}
		if to != 7 || body.Lookup("ok").AsFloat64() != 1 {
			t.Fatalf("%s reply to %d: %v", cmd, to, body)
		}
	}
	select {
	case err := <-pinged:
		t.Fatalf("the ping was answered while the lock was held (err %v)", err)
	default:
	}
	p.mu.Unlock()
	locked = false
	if err := <-pinged; err != nil {
		t.Fatal(err)
	}
}

// TestMoreToCome sends an unacknowledged insert (moreToCome) and then a
// ping on the same connection: the first reply the client reads is the
// ping's (FerretDB's reply to the insert was discarded), and the insert
// was applied.
func TestMoreToCome(t *testing.T) {
	p := startProxy(t, startFerretDB(t))
	c := dialRaw(t, p.Addr())
	c.send(newOpMsg(t, 1, flagMoreToCome, bson.D{
		{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}},
		{Key: "writeConcern", Value: bson.D{{Key: "w", Value: 0}}}, {Key: "$db", Value: "more"},
	}))
	c.send(newOpMsg(t, 2, 0, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}))
	to, body, err := c.reply()
	if err != nil {
		t.Fatal(err)
	}
	if to != 2 {
		t.Fatalf("first reply answers request %d (%v), want the ping (2)", to, body)
	}
	n, err := connect(t, p.Addr()).Database("more").Collection("c").CountDocuments(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d documents after the unacknowledged insert, want 1", n)
	}
}

func TestParseRequest(t *testing.T) {
	body := bson.D{{Key: "find", Value: "c"}, {Key: "$db", Value: "x"}}

	msg := newOpMsg(t, 1, flagExhaustAllowed|flagChecksumPresent, body)
	msg = append(msg, 1, 2, 3, 4) // the checksum
	le.PutUint32(msg[0:], uint32(len(msg)))
	r := parseRequest(msg)
	if r.command != "find" || r.moreToCome {
		t.Errorf("command %q, moreToCome %v", r.command, r.moreToCome)
	}
	if flags := le.Uint32(r.msg[16:20]); flags != 0 {
		t.Errorf("flags %#x after parse, want 0 (exhaustAllowed and checksum cleared)", flags)
	}
	if int(le.Uint32(r.msg[0:4])) != len(r.msg) || bytes.HasSuffix(r.msg, []byte{1, 2, 3, 4}) {
		t.Errorf("checksum not dropped: length field %d, message %d bytes", le.Uint32(r.msg[0:4]), len(r.msg))
	}

	// A document sequence (kind 1) before the body.
	doc, _ := bson.Marshal(body)
	seq := append([]byte{1, 0, 0, 0, 0}, "documents\x00"...)
	le.PutUint32(seq[1:], uint32(len(seq)-1))
	m := make([]byte, headerLen+4)
	le.PutUint32(m[12:], opMsg)
	m = append(append(append(m, seq...), 0), doc...)
	le.PutUint32(m[0:], uint32(len(m)))
	if got := parseRequest(m).command; got != "find" {
		t.Errorf("command after a document sequence: %q", got)
	}

	// OP_QUERY handshake.
	q := make([]byte, headerLen+4)
	le.PutUint32(q[12:], opQuery)
	q = append(q, "admin.$cmd\x00"...)
	q = append(q, make([]byte, 8)...)
	isMaster, _ := bson.Marshal(bson.D{{Key: "isMaster", Value: 1}})
	q = append(q, isMaster...)
	le.PutUint32(q[0:], uint32(len(q)))
	if r := parseRequest(q); r.command != "isMaster" || !isHandshake(r.command) {
		t.Errorf("OP_QUERY command %q", r.command)
	}

	// Truncated messages parse to no command (and so are locked).
	for n := headerLen; n < len(m); n += 7 {
		short := bytes.Clone(m[:n])
		le.PutUint32(short[0:], uint32(n))
		_ = parseRequest(short)
	}
}

func TestReadMessageBounds(t *testing.T) {
	for _, n := range []uint32{0, 15, maxMessageLen + 1, 1 << 31} {
		var b [4]byte
		le.PutUint32(b[:], n)
		if _, err := readMessage(bytes.NewReader(b[:])); err == nil {
			t.Errorf("length %d accepted", int32(n))
		}
	}
}
