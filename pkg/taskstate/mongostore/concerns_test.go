package mongostore

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskfleet/taskfleet/pkg/taskstate/internal/mongotest"
)

// TestOpenRefusesUnacknowledgedWrites: w=0 is a usage error (the CLI maps
// ErrInvalidURI to exit 2) that says what to change, without the password.
func TestOpenRefusesUnacknowledgedWrites(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{
		"mongodb://alice:s3cret@127.0.0.1:1/?w=0",
		"mongodb://alice:s3cret@127.0.0.1:1/?w=0&journal=false&serverSelectionTimeoutMS=100",
	} {
		_, err := Open(t.Context(), Config{URI: uri})
		require.ErrorIs(t, err, ErrInvalidURI, uri)
		require.ErrorIs(t, err, ErrUnacknowledgedWrites, uri)
		require.Contains(t, err.Error(), "remove w=0")
		require.NotContains(t, err.Error(), "s3cret")
	}
}

// TestOpenForcesConcerns: whatever the URI says, writes are w=majority,
// j=true and reads go to the primary, and a replaced setting is logged.
func TestOpenForcesConcerns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query string
		warns int
	}{
		{"", 0},
		{"?w=majority&journal=true&readPreference=primary", 0},
		{"?w=1&journal=false&readPreference=secondaryPreferred", 2},
		{"?w=2", 1},
		{"?readPreference=nearest", 1},
	} {
		core, logs := observer.New(zapcore.WarnLevel)
		opts, err := clientOptions("mongodb://127.0.0.1:1/"+tc.query, newScrubber(""), zap.New(core))
		require.NoError(t, err, tc.query)
		require.Equal(t, "majority", opts.WriteConcern.W, tc.query)
		require.NotNil(t, opts.WriteConcern.Journal, tc.query)
		require.True(t, *opts.WriteConcern.Journal, tc.query)
		require.Equal(t, readpref.PrimaryMode, opts.ReadPreference.Mode(), tc.query)
		require.Equal(t, tc.warns, logs.Len(), "%s: %v", tc.query, logs.All())
	}
}

// TestConcernsOnTheWire sends a write through the options Open uses, from
// a URI that asks for w=1: the server receives w=majority, j=true (and
// accepts it).
func TestConcernsOnTheWire(t *testing.T) {
	t.Parallel()
	uri := testURI(t)
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	opts, err := clientOptions(uri+sep+"w=1", newScrubber(uri), zap.NewNop())
	require.NoError(t, err)
	var (
		mu   sync.Mutex
		sent []bson.Raw
	)
	opts.SetMonitor(&event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "insert" {
			mu.Lock()
			sent = append(sent, e.Command)
			mu.Unlock()
		}
	}})
	client, err := mongo.Connect(opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, client.Disconnect(context.Background())) }()
	_, err = client.Database(mongotest.Database(t, uri)).Collection("c").InsertOne(t.Context(), bson.D{{Key: "x", Value: 1}})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, sent, 1)
	var wc struct {
		W any  `bson:"w"`
		J bool `bson:"j"`
	}
	require.NoError(t, sent[0].Lookup("writeConcern").Unmarshal(&wc), "%s", sent[0])
	require.Equal(t, "majority", wc.W)
	require.True(t, wc.J)
}
