package mongostore

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/internal/artifacttest"
)

// artifactHarness runs the artifact suite on a fresh database per case;
// Count counts the documents of the pool's GridFS bucket.
func artifactHarness() artifacttest.Harness {
	return artifacttest.Harness{
		NewStore: func(t *testing.T) taskstate.Store { return openTestStore(t) },
		Count: func(t *testing.T, s taskstate.Store, pool string) (chunks, files int64) {
			db := s.(*Store).Database()
			chunks, err := db.Collection(pool+".artifacts.chunks").CountDocuments(t.Context(), bson.D{})
			require.NoError(t, err)
			files, err = db.Collection(pool+".artifacts.files").CountDocuments(t.Context(), bson.D{})
			require.NoError(t, err)
			return chunks, files
		},
		ChunkSize:  ChunkSize,
		FenceEvery: fenceEvery,
	}
}

func TestArtifacts(t *testing.T) { artifacttest.Run(t, artifactHarness()) }

func TestArtifactBig(t *testing.T) { artifacttest.RunBig(t, artifactHarness()) }

func BenchmarkArtifactStore(b *testing.B) {
	artifacttest.Bench(b, func(b *testing.B) taskstate.Store { return openTestStore(b) }, 32<<20, false)
}

func BenchmarkArtifactFetch(b *testing.B) {
	artifacttest.Bench(b, func(b *testing.B) taskstate.Store { return openTestStore(b) }, 32<<20, true)
}
