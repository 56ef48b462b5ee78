package taskstate

import "context"

// MaxEventIDs caps the task ids one event carries, so a bulk create of a
// million tasks publishes one small message; the count stays exact.
const MaxEventIDs = 64

// IDNotifier is a Notifier that also takes the ids of the tasks a write
// touched (at most MaxEventIDs of them), for readers of the event history
// (`dispatcher events`, the console's activity feed). The Manager uses it
// when its Notifier implements it.
type IDNotifier interface {
	NotifyIDs(ctx context.Context, pool string, ev Event, n int, ids []string)
}

// notifyIDs is notify with the ids of the touched tasks when known.
func (m *Manager) notifyIDs(ctx context.Context, ev Event, ids []string) {
	if len(ids) == 0 {
		return
	}
	idn, ok := m.cfg.Notifier.(IDNotifier)
	if !ok {
		m.notify(ctx, ev, len(ids))
		return
	}
	n := len(ids)
	idn.NotifyIDs(context.WithoutCancel(ctx), m.pool, ev, n, ids[:min(n, MaxEventIDs)])
}

// pick returns the ids whose flag is set.
func pick(ids []string, keep []bool) []string {
	var out []string
	for i, id := range ids {
		if keep[i] {
			out = append(out, id)
		}
	}
	return out
}
