package events

import "github.com/nats-io/nats.go"

// FastPath returns w's fast-path subscriptions, for tests.
func (w *WorkWakeup) FastPath() []*nats.Subscription { return w.fast }

// WakePending is the bound of a fast-path subscription's pending wake-ups.
const WakePendingMsgs, WakePendingBytes = wakePendingMsgs, wakePendingBytes
