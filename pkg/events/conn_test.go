package events_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/events/eventstest"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	const user, pass = "fleet", "s3cret-pa55"
	srv := eventstest.Server(t, events.EmbeddedConfig{User: user, Password: pass})
	hostPort := strings.TrimPrefix(srv.ClientURL(), "nats://")

	ok := []struct {
		name string
		cfg  events.Config
	}{
		{"fields", events.Config{URL: srv.ClientURL(), User: user, Password: pass}},
		{"url", events.Config{URL: "nats://" + user + ":" + pass + "@" + hostPort}},
	}
	for _, tc := range ok {
		t.Run("right credentials in "+tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := events.Connect(ctxT(t), tc.cfg)
			require.NoError(t, err)
			require.NotContains(t, conn.URL(), pass)
			w, err := conn.Wakeups(ctxT(t), "p")
			require.NoError(t, err)
			conn.Notifier().Notify(t.Context(), "p", taskstate.EventCreated, 1)
			receive(t, w.C(), "wake-up")
			require.NoError(t, conn.Close())
		})
	}

	bad := []struct {
		name    string
		cfg     events.Config
		wantMsg string
	}{
		{"no credentials", events.Config{URL: srv.ClientURL()},
			"events: connect nats://" + hostPort + ": authorization violation"},
		{"wrong password in url", events.Config{URL: "nats://" + user + ":wrong-" + pass + "@" + hostPort},
			"events: connect nats://***@" + hostPort + ": authorization violation"},
		{"wrong password in fields", events.Config{URL: srv.ClientURL(), User: user, Password: "wrong-" + pass},
			"events: connect nats://" + hostPort + ": authorization violation"},
	}
	for _, tc := range bad {
		t.Run(tc.name+" fails fast", func(t *testing.T) {
			t.Parallel()
			logs, obs := observer.New(zapcore.DebugLevel)
			tc.cfg.Logger = zap.New(logs)
			tc.cfg.ConnectRetry = time.Minute // auth errors are not retried
			start := time.Now()
			conn, err := events.Connect(ctxT(t), tc.cfg)
			require.Nil(t, conn)
			require.ErrorIs(t, err, events.ErrAuthorization)
			require.Less(t, time.Since(start), 5*time.Second)
			require.Equal(t, tc.wantMsg, err.Error())
			require.NotContains(t, err.Error(), pass)
			for _, e := range obs.All() {
				require.NotContains(t, fmt.Sprint(e.Message, e.ContextMap()), pass)
			}
		})
	}

	t.Run("token", func(t *testing.T) {
		t.Parallel()
		const token = "t0ken-abc-123"
		srv := eventstest.Server(t, events.EmbeddedConfig{Token: token})
		conn := eventstest.Connect(t, srv, events.Config{Token: token})
		require.NotNil(t, conn)
		hp := strings.TrimPrefix(srv.ClientURL(), "nats://")
		_, err := events.Connect(ctxT(t), events.Config{URL: "nats://nope-" + token + "@" + hp})
		require.ErrorIs(t, err, events.ErrAuthorization)
		require.Equal(t, "events: connect nats://***@"+hp+": authorization violation", err.Error())
	})
}

func TestConnect(t *testing.T) {
	t.Parallel()

	t.Run("an unreachable server is retried for a bounded time", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close()) // nothing listens there now

		start := time.Now()
		_, err = events.Connect(ctxT(t), events.Config{
			URL:          "nats://user:hunter22@" + addr,
			ConnectRetry: 300 * time.Millisecond,
		})
		require.ErrorIs(t, err, events.ErrUnreachable)
		require.Less(t, time.Since(start), 5*time.Second)
		require.Contains(t, err.Error(), "events: connect nats://***@"+addr+": ")
		require.NotContains(t, err.Error(), "hunter22")
	})

	t.Run("the context ends the retries", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err = events.Connect(ctx, events.Config{URL: "nats://" + addr, ConnectRetry: time.Minute})
		require.ErrorIs(t, err, events.ErrUnreachable)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})

	t.Run("a server started late is waited for", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		require.NoError(t, l.Close())

		type result struct {
			conn *events.Conn
			err  error
		}
		res := make(chan result, 1)
		go func() {
			conn, err := events.Connect(context.Background(), events.Config{
				URL: fmt.Sprintf("nats://127.0.0.1:%d", port), ConnectRetry: waitFor,
			})
			res <- result{conn, err}
		}()
		eventstest.Server(t, events.EmbeddedConfig{Port: port})
		r := <-res
		require.NoError(t, r.err)
		require.NoError(t, r.conn.Close())
	})

	t.Run("invalid configs", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			cfg   events.Config
			field string
		}{
			{events.Config{}, "Config.URL"},
			{events.Config{URL: "nats://x", TLSCertFile: "c.pem"}, "Config.TLSCertFile"},
			{events.Config{URL: "nats://x", Token: "t", User: "u"}, "Config.Token"},
			{events.Config{URL: "nats://x", MaxPending: -1}, "Config.MaxPending"},
			{events.Config{URL: "nats://x", TLSCAFile: "/nonexistent/ca.pem"}, "Config.TLSCAFile"},
		} {
			_, err := events.Connect(t.Context(), tc.cfg)
			require.ErrorIs(t, err, events.ErrInvalidConfig)
			require.Contains(t, err.Error(), tc.field)
		}
	})

	t.Run("a server without JetStream is a clear error", func(t *testing.T) {
		t.Parallel()
		// The embedded server always enables JetStream: build a plain one.
		srv := plainServer(t)
		_, err := events.Connect(ctxT(t), events.Config{URL: srv.ClientURL()})
		require.ErrorIs(t, err, events.ErrJetStream)
		require.Contains(t, err.Error(), "events: ensure stream TASKFLEET: JetStream is not enabled on the server")
	})

	t.Run("in process", func(t *testing.T) {
		t.Parallel()
		srv := eventstest.Server(t, events.EmbeddedConfig{InProcessOnly: true, User: "u", Password: "pw-in-process"})
		require.Empty(t, srv.ClientURL())
		conn, err := events.ConnectInProcess(ctxT(t), srv, events.Config{})
		require.NoError(t, err)
		defer func() { require.NoError(t, conn.Close()) }()
		w, err := conn.Wakeups(ctxT(t), "p")
		require.NoError(t, err)
		conn.Notifier().Notify(t.Context(), "p", taskstate.EventAvailable, 1)
		receive(t, w.C(), "wake-up")
	})
}

func TestEmbedded(t *testing.T) {
	t.Parallel()

	t.Run("a temporary store dir is removed on shutdown", func(t *testing.T) {
		t.Parallel()
		srv, err := events.StartEmbedded(events.EmbeddedConfig{})
		require.NoError(t, err)
		dir := srv.StoreDir()
		require.DirExists(t, dir)
		require.NotZero(t, srv.Port())
		srv.Shutdown()
		srv.Shutdown()
		require.NoDirExists(t, dir)
	})

	t.Run("a busy port is a clear error", func(t *testing.T) {
		t.Parallel()
		first := eventstest.Server(t, events.EmbeddedConfig{})
		_, err := events.StartEmbedded(events.EmbeddedConfig{Port: first.Port()})
		require.ErrorContains(t, err, "address already in use")
	})

	t.Run("server warnings reach the logger", func(t *testing.T) {
		t.Parallel()
		logs, obs := observer.New(zapcore.WarnLevel)
		srv := eventstest.Server(t, events.EmbeddedConfig{Logger: zap.New(logs), User: "u", Password: "pw"})
		_, err := events.Connect(ctxT(t), events.Config{URL: srv.ClientURL()})
		require.ErrorIs(t, err, events.ErrAuthorization)
		eventually(t, func() bool { return obs.FilterMessageSnippet("authentication error").Len() > 0 })
	})

	t.Run("invalid configs", func(t *testing.T) {
		t.Parallel()
		for _, cfg := range []events.EmbeddedConfig{
			{User: "u"},
			{Token: "t", User: "u", Password: "p"},
			{Port: 70000},
		} {
			_, err := events.StartEmbedded(cfg)
			require.ErrorIs(t, err, events.ErrInvalidConfig)
		}
	})
}

// plainServer runs a NATS server without JetStream.
func plainServer(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	require.True(t, srv.ReadyForConnections(waitFor))
	return srv
}
