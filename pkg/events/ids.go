package events

import (
	"context"
	"encoding/json"
	"time"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var _ taskstate.IDNotifier = (*Publisher)(nil)

// NotifyIDs is Notify with the ids of the touched tasks in the body
// (Payload.IDs), for readers of the history (History). The Manager passes
// at most taskstate.MaxEventIDs ids; more are cut here too, so a message
// stays small whatever the caller.
func (p *Publisher) NotifyIDs(_ context.Context, pool string, ev taskstate.Event, n int, ids []string) {
	ids = ids[:min(len(ids), taskstate.MaxEventIDs)]
	p.publish(pool, ev, n, func(b []byte) []byte {
		// Task ids are hex, so marshalling cannot fail.
		out, _ := json.Marshal(Payload{N: n, At: time.Now().UnixNano(), IDs: ids})
		return append(b, out...)
	})
}
