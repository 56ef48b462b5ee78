package events_test

import (
	"context"
	"fmt"
	"time"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// A waiter subscribes first, then counts from the store, then recounts on
// every wake-up or when its fallback timer fires.
func Example() {
	srv, err := events.StartEmbedded(events.EmbeddedConfig{InProcessOnly: true})
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown()

	ctx := context.Background()
	conn, err := events.ConnectInProcess(ctx, srv, events.Config{})
	if err != nil {
		panic(err)
	}
	defer conn.Close()

	w, err := conn.Wakeups(ctx, "train", taskstate.EventCommitted, taskstate.EventFailed)
	if err != nil {
		panic(err)
	}
	defer w.Close()

	// Elsewhere, the Manager commits a task and notifies.
	conn.Notifier().Notify(ctx, "train", taskstate.EventCommitted, 1)

	select {
	case <-w.C():
		fmt.Println("woke up: recount from the store")
	case <-time.After(5 * time.Second):
		fmt.Println("fallback timer: recount from the store")
	}
	// Output: woke up: recount from the store
}
