package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

const (
	// shutdownTimeout is how long a stopping Server lets requests in
	// progress finish before it closes their connections.
	shutdownTimeout = 5 * time.Second
	// readHeaderTimeout bounds a client that opens a connection and sends
	// nothing.
	readHeaderTimeout = 10 * time.Second
)

// Server serves /metrics, /healthz and /readyz over HTTP. It owns two
// goroutines, both gone once Done is closed.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	log  *zap.Logger
	stop chan struct{}
	once sync.Once
	done chan struct{}
	err  error // written before done is closed
}

// Serve listens on addr ("127.0.0.1:0", ":9090") and serves, until ctx is
// done or Close is called:
//
//   - /metrics: the metrics of g, in the OpenMetrics format when the scraper
//     asks for it, else the Prometheus text format;
//   - /healthz: 200 "ok" while the process runs (liveness);
//   - /readyz: 200 "ok" when ready returns nil, else 503 with its error
//     (readiness). A nil ready is always ready.
//
// It returns once the listener is open; Addr tells the bound address. When
// ctx is done the server stops accepting connections, lets requests in
// progress finish for up to 5 s and closes. Wait for that with Wait or
// Done.
func Serve(ctx context.Context, addr string, g prometheus.Gatherer, ready func() error, log *zap.Logger) (*Server, error) {
	if g == nil {
		return nil, errors.New("metrics: Serve needs a Gatherer")
	}
	if log == nil {
		log = zap.NewNop()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	errLog := zap.NewStdLog(log)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:          errLog,
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
				return
			}
		}
		writeText(w, http.StatusOK, "ok")
	})
	s := &Server{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: readHeaderTimeout,
			ErrorLog:          errLog,
		},
		ln:   ln,
		log:  log,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	log.Info("metrics server listening", zap.String("addr", s.Addr()))
	go s.run(ctx)
	return s, nil
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, body)
}

func (s *Server) run(ctx context.Context) {
	defer close(s.done)
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.ln) }()
	select {
	case err := <-served: // the listener failed on its own
		s.err = fmt.Errorf("metrics: serve on %s: %w", s.Addr(), err)
		s.log.Error("metrics server stopped", zap.Error(err))
		return
	case <-ctx.Done():
	case <-s.stop:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.log.Warn("metrics server: requests still running at shutdown; closing them", zap.Error(err))
		_ = s.srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		s.err = fmt.Errorf("metrics: serve on %s: %w", s.Addr(), err)
	}
	s.log.Info("metrics server stopped")
}

// Addr returns the address the server listens on, such as
// "127.0.0.1:41234".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Done is closed once the server has stopped and its goroutines are gone.
func (s *Server) Done() <-chan struct{} { return s.done }

// Wait blocks until the server has stopped. It returns nil after a
// shutdown, or the error that stopped the server on its own.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

// Close stops the server as a done ctx does and waits for it. It is safe
// to call more than once and after ctx is done.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.stop) })
	return s.Wait()
}
