package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/taskfleet/taskfleet/internal/metrics"
)

// waitFor is how long a test waits for the server to stop.
const waitFor = 10 * time.Second

// client makes one connection per request, so no idle connection (and its
// goroutines) outlives a test.
var client = &http.Client{
	Timeout:   waitFor,
	Transport: &http.Transport{DisableKeepAlives: true},
}

type response struct {
	code        int
	contentType string
	body        string
}

func get(t *testing.T, url string, header ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{code: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: string(body)}
}

// stopped waits for srv to stop, failing the test after waitFor.
func stopped(t *testing.T, srv *metrics.Server) {
	t.Helper()
	select {
	case <-srv.Done():
	case <-time.After(waitFor):
		t.Fatalf("server did not stop within %s", waitFor)
	}
	require.NoError(t, srv.Wait())
}

func TestServe(t *testing.T) {
	t.Parallel()
	reg := fullRegistry(t)
	var notReady atomic.Pointer[error]
	starting := errors.New("store not connected yet")
	notReady.Store(&starting)
	ready := func() error {
		if err := notReady.Load(); err != nil {
			return *err
		}
		return nil
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv, err := metrics.Serve(ctx, "127.0.0.1:0", reg, ready, zaptest.NewLogger(t))
	require.NoError(t, err)
	base := "http://" + srv.Addr()
	require.NotEqual(t, "127.0.0.1:0", srv.Addr())

	// The subtests run in order: readyz flips the ready state.
	t.Run("metrics", func(t *testing.T) {
		r := get(t, base+"/metrics")
		require.Equal(t, http.StatusOK, r.code)
		require.True(t, strings.HasPrefix(r.contentType, "text/plain"), r.contentType)
		for _, name := range familyNames(t, reg) {
			require.Contains(t, r.body, "# TYPE "+name+" ")
		}
		require.Contains(t, r.body, `taskfleet_tasks_claimed_total{pool="train"} 1`)
	})

	t.Run("openmetrics", func(t *testing.T) {
		r := get(t, base+"/metrics", "Accept", "application/openmetrics-text; version=1.0.0")
		require.Equal(t, http.StatusOK, r.code)
		require.True(t, strings.HasPrefix(r.contentType, "application/openmetrics-text"), r.contentType)
		require.Contains(t, r.body, "# TYPE taskfleet_tasks_claimed counter")
		require.True(t, strings.HasSuffix(r.body, "# EOF\n"))
	})

	t.Run("healthz", func(t *testing.T) {
		r := get(t, base+"/healthz")
		require.Equal(t, http.StatusOK, r.code)
		require.Equal(t, "ok\n", r.body)
	})

	t.Run("readyz", func(t *testing.T) {
		r := get(t, base+"/readyz")
		require.Equal(t, http.StatusServiceUnavailable, r.code)
		require.Equal(t, "not ready: store not connected yet\n", r.body)

		notReady.Store(nil)
		r = get(t, base+"/readyz")
		require.Equal(t, http.StatusOK, r.code)
		require.Equal(t, "ok\n", r.body)
	})

	t.Run("unknown path", func(t *testing.T) {
		require.Equal(t, http.StatusNotFound, get(t, base+"/").code)
	})

	cancel()
	stopped(t, srv)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/healthz", nil)
	require.NoError(t, err)
	_, err = client.Do(req) //nolint:bodyclose // there is no response
	require.Error(t, err, "the listener is closed")
	require.NoError(t, srv.Close(), "Close after ctx is done")
}

func TestServeClose(t *testing.T) {
	t.Parallel()
	srv, err := metrics.Serve(t.Context(), "127.0.0.1:0", fullRegistry(t), nil, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, get(t, "http://"+srv.Addr()+"/readyz").code, "nil ready: always ready")

	require.NoError(t, srv.Close())
	require.NoError(t, srv.Close(), "twice")
	stopped(t, srv)
}

func TestServeErrors(t *testing.T) {
	t.Parallel()
	reg := fullRegistry(t)
	log := zaptest.NewLogger(t)

	srv, err := metrics.Serve(t.Context(), "127.0.0.1:0", reg, nil, log)
	require.NoError(t, err)
	defer func() { require.NoError(t, srv.Close()) }()

	_, err = metrics.Serve(t.Context(), srv.Addr(), reg, nil, log)
	require.ErrorContains(t, err, "listen on "+srv.Addr())

	_, err = metrics.Serve(t.Context(), "127.0.0.1:0", nil, nil, log)
	require.Error(t, err)

	done, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = metrics.Serve(done, "127.0.0.1:0", reg, nil, log)
	require.ErrorIs(t, err, context.Canceled)
}
