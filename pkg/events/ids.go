package events

import (
	"context"
	"encoding/json"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var _ taskstate.ChangeNotifier = (*Publisher)(nil)

// NotifyChange is Notify with the ids of the touched tasks in the body
// (Payload.IDs), for readers of the history (History), and wake-ups on the
// work queues of their kinds (Change.Kinds). The Manager passes at most
// taskstate.MaxEventIDs ids; more are cut here too, so a message stays
// small whatever the caller.
func (p *Publisher) NotifyChange(_ context.Context, pool string, c taskstate.Change) {
	ids := c.IDs[:min(len(c.IDs), taskstate.MaxEventIDs)]
	p.publish(pool, c, func(b []byte) []byte {
		// Task ids are hex, so marshalling cannot fail.
		out, _ := json.Marshal(Payload{N: c.N, At: time.Now().UnixNano(), IDs: ids})
		return append(b, out...)
	})
}
