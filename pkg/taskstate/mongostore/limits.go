package mongostore

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

const (
	// maxDocument is MongoDB's limit on a stored document
	// (maxBsonObjectSize). FerretDB does not enforce it; the store does.
	maxDocument = 16 << 20
	// smallResult is the result size a commit writes without reading the
	// document first: a new task leaves that much room (plus
	// updateSlack), so such a commit always fits.
	smallResult = 64 << 10
	// updateSlack covers the fields a transition adds or grows
	// (finished_at, updated_at, status, a short last_error).
	updateSlack = 4 << 10
	// createLimit is the largest new task document.
	createLimit = maxDocument - smallResult - updateSlack
)

// marshalNewTask encodes the document of a new task, or fails with
// ErrPayloadTooLarge naming the entry if it would not leave room under
// MongoDB's 16 MiB for a result.
func marshalNewTask(i int, doc bson.D) (bson.Raw, error) {
	raw, err := bson.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: task %d: %w", taskstate.ErrInvalidTask, i, err)
	}
	if len(raw) > createLimit {
		return nil, fmt.Errorf("%w: task %d: its document (def and filter) is %d bytes, over the %d a task may take (MongoDB stores at most %d per document, with the result)",
			taskstate.ErrPayloadTooLarge, i, len(raw), createLimit, maxDocument)
	}
	return raw, nil
}

// fitCommit checks that a commit's result fits in the task's document.
// A result up to smallResult always fits; a larger one is checked
// against the stored document (read without its current result, under the
// same fence). A result that does not fit turns the commit into a fenced
// move to failed that says why: retrying would produce the same result,
// and the server (MongoDB; FerretDB stores it anyway) would refuse it.
func (s *Store) fitCommit(ctx context.Context, c *mongo.Collection, id bson.ObjectID, tr taskstate.Transition) (taskstate.Transition, error) {
	if !tr.SetRes || len(tr.Res) <= smallResult {
		return tr, nil
	}
	raw, err := c.FindOne(ctx, leaseFence(id, tr.Token), options.FindOne().SetProjection(bson.D{{Key: fRes, Value: 0}})).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return tr, nil // the fenced update will not apply either
	}
	if err != nil {
		return tr, err
	}
	// The res element: type, "res\x00", length, subtype, data.
	size := len(raw) + 1 + len(fRes) + 1 + 4 + 1 + len(tr.Res) + updateSlack
	if size <= maxDocument {
		return tr, nil
	}
	cause := fmt.Errorf("%w: with this result (%d bytes) the task document would be %d bytes, over MongoDB's %d; store large outputs as artifacts",
		taskstate.ErrPayloadTooLarge, len(tr.Res), size, maxDocument)
	s.log.Warn("result too large for the task document; the task fails", zap.String("task", tr.ID), zap.Error(cause))
	return taskstate.Transition{
		ID: tr.ID, Token: tr.Token, Seq: tr.Seq, To: taskstate.StatusFailed,
		SetError: true, LastError: "result: " + cause.Error(),
	}, nil
}
