// Package eventstest runs a real NATS server with JetStream in the test
// process, for the tests of every package that publishes or waits for task
// events.
//
//	srv := eventstest.Server(t, events.EmbeddedConfig{})
//	conn := eventstest.Connect(t, srv, events.Config{})
//
// Both are released by t.Cleanup, the connection first.
package eventstest
