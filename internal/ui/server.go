package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

//go:embed static
var static embed.FS

// Cookie and header names.
const (
	CSRFCookie    = "taskfleet_csrf"
	CSRFHeader    = "X-CSRF-Token"
	SessionCookie = "taskfleet_session"
)

// maxBody bounds a POST body before it is read.
const maxBody = 64 << 10

// Server is the console's HTTP handler.
type Server struct {
	cfg     Config
	csrf    string // per-process CSRF token
	session string // the login cookie's value: an HMAC of the token under a per-process key
	mux     *http.ServeMux
	cop     *http.CrossOriginProtection

	mu      sync.Mutex
	samples map[string][]sample // per pool, for throughput
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, csrf: randomHex(), mux: http.NewServeMux(),
		cop: http.NewCrossOriginProtection(), samples: map[string][]sample{}}
	if cfg.Token != "" {
		mac := hmac.New(sha256.New, []byte(randomHex()))
		mac.Write([]byte(cfg.Token))
		s.session = hex.EncodeToString(mac.Sum(nil))
	}
	sub, _ := fs.Sub(static, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(sub)))
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("GET /login", s.loginForm)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("GET /api/config", s.apiConfig)
	s.mux.HandleFunc("GET /api/pools", s.apiPools)
	s.mux.HandleFunc("GET /api/pools/{pool}/tasks", s.apiTasks)
	s.mux.HandleFunc("GET /api/pools/{pool}/tasks/{id}", s.apiTask)
	s.mux.HandleFunc("GET /api/pools/{pool}/tasks/{id}/log", s.apiLog)
	s.mux.HandleFunc("GET /api/pools/{pool}/tasks/{id}/artifacts/{name}", s.apiArtifact)
	s.mux.HandleFunc("GET /api/pools/{pool}/events", s.apiEvents)
	s.mux.HandleFunc("POST /api/pools/{pool}/actions/{action}", s.apiAction)
	return s, nil
}

func randomHex() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ServeHTTP checks access, then CSRF on every unsafe method, then serves.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	login := r.URL.Path == "/login" || strings.HasPrefix(r.URL.Path, "/static/")
	if !login && !s.authorized(r) {
		if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		s.refuse(w, r, http.StatusUnauthorized, "a token is required: Authorization: Bearer TOKEN, or log in at /login")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := s.checkCSRF(r, login); err != nil {
			s.refuse(w, r, http.StatusForbidden, err.Error())
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// authorized reports whether r may use the console.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) == 1
	}
	c, err := r.Cookie(SessionCookie)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.session)) == 1
}

// checkCSRF refuses a cross-origin request (Origin or Sec-Fetch-Site
// naming another site) and, but for the login form, one without the
// process's token in both the cookie and the header.
func (s *Server) checkCSRF(r *http.Request, login bool) error {
	if err := s.cop.Check(r); err != nil {
		return errors.New("cross-origin request refused")
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			return errors.New("cross-origin request refused: Origin " + o)
		}
	}
	if login {
		return nil
	}
	c, err := r.Cookie(CSRFCookie)
	h := r.Header.Get(CSRFHeader)
	if err != nil || h == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.csrf)) != 1 ||
		subtle.ConstantTimeCompare([]byte(h), []byte(s.csrf)) != 1 {
		return errors.New("request refused: CSRF token missing or wrong (reload the page)")
	}
	return nil
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.cfg.Logger.Info("ui: request refused", zap.String("method", r.Method), zap.String("path", r.URL.Path),
		zap.Int("code", code), zap.String("reason", msg))
	writeError(w, code, msg)
}

// setCSRF gives the page the CSRF cookie, readable by its script.
func (s *Server) setCSRF(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: s.csrf, Path: "/", SameSite: http.SameSiteStrictMode})
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	s.setCSRF(w)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page, _ := static.ReadFile("static/index.html")
	_, _ = w.Write(page)
}

const loginPage = `<!doctype html><html><head><meta charset="utf-8"><title>taskfleet login</title>
<link rel="stylesheet" href="/static/style.css"></head><body><main class="login"><h1>taskfleet</h1>
<form method="post" action="/login"><label>Token <input type="password" name="token" autofocus></label>
<button type="submit">Log in</button></form></main></body></html>`

func (s *Server) loginForm(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(loginPage))
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	tok := r.PostFormValue("token")
	if s.cfg.Token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) != 1 {
		s.refuse(w, r, http.StatusUnauthorized, "wrong token")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: s.session, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int((12 * time.Hour).Seconds())})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
