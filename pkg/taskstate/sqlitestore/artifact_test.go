package sqlitestore_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/internal/artifacttest"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// artifactHarness runs the artifact suite on SQLite files; Count reads
// the tables through a connection of its own.
func artifactHarness() artifacttest.Harness {
	paths := map[taskstate.Store]string{}
	return artifacttest.Harness{
		NewStore: func(t *testing.T) taskstate.Store {
			path := filepath.Join(t.TempDir(), "art.db")
			s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: path})
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			paths[s] = path
			return s
		},
		Count: func(t *testing.T, s taskstate.Store, pool string) (chunks, files int64) {
			db, err := sql.Open("sqlite", "file:"+paths[s])
			require.NoError(t, err)
			defer db.Close()
			require.NoError(t, db.QueryRow(`SELECT count(*) FROM artifact_chunks`).Scan(&chunks))
			require.NoError(t, db.QueryRow(`SELECT count(*) FROM artifacts WHERE pool = ?`, pool).Scan(&files))
			return chunks, files
		},
		ChunkSize:  sqlitestore.ChunkSize,
		FenceEvery: sqlitestore.ChunkSize,
	}
}

func TestArtifacts(t *testing.T) { artifacttest.Run(t, artifactHarness()) }

func TestArtifactBig(t *testing.T) { artifacttest.RunBig(t, artifactHarness()) }

func BenchmarkArtifactStore(b *testing.B) {
	artifacttest.Bench(b, func(b *testing.B) taskstate.Store { return openArt(b) }, 32<<20, false)
}

func BenchmarkArtifactFetch(b *testing.B) {
	artifacttest.Bench(b, func(b *testing.B) taskstate.Store { return openArt(b) }, 32<<20, true)
}

func openArt(b *testing.B) *sqlitestore.Store {
	s, err := sqlitestore.Open(b.Context(), sqlitestore.Config{Path: filepath.Join(b.TempDir(), "art.db")})
	require.NoError(b, err)
	b.Cleanup(func() { s.Close() })
	return s
}
