package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "uri")
	if err := writeFileAtomic(path, "mongodb://127.0.0.1:1/\n"); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, "mongodb://127.0.0.1:2/\n"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "mongodb://127.0.0.1:2/\n" {
		t.Fatalf("got %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

// TestServerLifecycle checks that a temporary data dir is removed on Stop and
// that an explicit -dir keeps its data across restarts.
func TestServerLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tmp, err := startServer(ctx, serverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tmpDir := tmp.Dir()
	if err := tmp.Stop(shutdownTimeout); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmpDir); !os.IsNotExist(err) {
		t.Fatalf("temporary data dir %s not removed: %v", tmpDir, err)
	}

	dir := filepath.Join(t.TempDir(), "data")
	for i, want := range []int64{1, 2} {
		srv, err := startServer(ctx, serverConfig{Dir: dir})
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
		if err != nil {
			t.Fatal(err)
		}
		coll := client.Database("persist").Collection("c")
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "i", Value: i}}); err != nil {
			t.Fatal(err)
		}
		n, err := coll.CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("run %d: %d documents, want %d", i, n, want)
		}
		_ = client.Disconnect(ctx)
		if err := srv.Stop(shutdownTimeout); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("explicit data dir removed: %v", err)
	}
}
