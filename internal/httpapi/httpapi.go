// Package httpapi serves a node's local HTTP API under /api/v1, its
// Prometheus metrics under /metrics, and whatever else the node mounts (the
// web app).
//
// The API controls the node, so every request passes one gate ([Server]'s
// ServeHTTP) before any handler runs:
//
//   - the Host header must name a loopback address (or the address the API
//     was explicitly bound to), which defeats DNS rebinding;
//   - a request whose Origin is not the API's own origin, or that a browser
//     marks as cross-site, is refused with 403, so no web page can drive
//     the node;
//   - the request must carry the node's token as "Authorization: Bearer …"
//     (or a session cookie, see [Server.SetSessionCheck]); otherwise 401.
//
// A refused request (401, 403) also closes its connection, so a client
// without the token cannot park keep-alive connections. Connections are
// bounded too (see [Server.Serve]): a header must arrive within
// [ReadHeaderTimeout], an idle keep-alive connection is closed after
// [IdleTimeout], and beyond [Config.MaxConns] open connections the oldest
// one that is not serving a request is closed to make room, so a flood of
// idle connections neither exhausts the daemon's file descriptors nor keeps
// an honest client out.
//
// Handlers return (value, error); the value is written as JSON and the
// error is mapped to an HTTP status in exactly one place, [statusOf], whose
// table (errors.go) is ordered, so an error wrapping two sentinels always
// gets the same status. The routes of /api/v1 are handlers over small
// interfaces this package declares ([Services]); the node hands it its
// services, and a service it lacks makes its routes answer 503.
package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/peerpath/peerpath/api"
)

// Config configures a Server. Token is required.
type Config struct {
	// Token is the bearer token every request must carry.
	Token string
	// Logger receives request errors. Nil discards them.
	Logger *slog.Logger
	// Gatherer serves /metrics. Nil serves no metrics.
	Gatherer prometheus.Gatherer
	// BindHost is the host the API listens on. Requests whose Host header
	// names it are accepted besides loopback names. Empty means loopback only.
	BindHost string
	// Services are the subsystems whose routes the server mounts (see
	// [Services]); a nil one answers 503 on its routes.
	Services Services
	// MaxConns bounds the open connections. Zero means [DefaultMaxConns].
	MaxConns int
}

// Connection limits of [Server.Serve].
const (
	// DefaultMaxConns is the default of [Config.MaxConns]: far more than
	// the CLI, the web app and its live pages use at once.
	DefaultMaxConns = 256
	// ReadHeaderTimeout is how long a connection may take to send a
	// request's header.
	ReadHeaderTimeout = 5 * time.Second
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request.
	IdleTimeout = 30 * time.Second
	// maxHeaderBytes bounds a request's header.
	maxHeaderBytes = 64 << 10
)

// Func is an API handler: the value it returns is written as JSON with
// status 200 (or the status set by [WithStatus]); its error is mapped to a
// status by the server. A Func that writes the response itself (a stream)
// returns (nil, nil).
type Func func(w http.ResponseWriter, r *http.Request) (any, error)

// Server is the local API's HTTP handler.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	session  func(r *http.Request) bool
	public   map[string]bool
	resolver Contacts // resolves peer arguments (nil: peer IDs only)
}

// New returns a Server with the /metrics endpoint and the routes of
// cfg.Services mounted.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), public: map[string]bool{}}
	if cfg.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	s.mount(cfg.Services)
	return s
}

// Handle registers a raw handler for pattern (net/http ServeMux syntax,
// e.g. "GET /api/v1/id"). It runs after the gate.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandlePublic registers a handler that needs no token (it still passes
// the Host and Origin checks): the web app's page and its login.
func (s *Server) HandlePublic(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.public[pattern] = true
}

// SetSessionCheck installs a check that accepts a request without a bearer
// token (the web app's session cookie).
func (s *Server) SetSessionCheck(f func(r *http.Request) bool) { s.session = f }

// HandleFunc registers an API handler for pattern.
func (s *Server) HandleFunc(pattern string, fn Func) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(w, r)
		if err != nil {
			s.WriteError(w, r, err)
			return
		}
		if v == nil {
			return
		}
		status := http.StatusOK
		if sv, ok := v.(statusValue); ok {
			status, v = sv.status, sv.v
		}
		WriteJSON(w, status, v)
	})
}

type statusValue struct {
	status int
	v      any
}

// WithStatus makes a Func answer v with the given status.
func WithStatus(status int, v any) any { return statusValue{status, v} }

// StatusError carries an HTTP status for an error.
type StatusError struct {
	Status int
	Err    error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// BadRequest marks err as the client's fault (400).
func BadRequest(err error) error { return &StatusError{http.StatusBadRequest, err} }

// NotFound marks err as 404.
func NotFound(err error) error { return &StatusError{http.StatusNotFound, err} }

// WriteError answers err with its mapped status and an [api.ErrorBody].
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	st := statusOf(err)
	if st >= 500 {
		s.cfg.Logger.Warn("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	code, msg, hint := plainOf(err)
	body := api.ErrorBody{Error: msg, Code: code, Hint: hint}
	if msg != err.Error() {
		body.Detail = err.Error()
	}
	WriteJSON(w, st, body)
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// DecodeJSON reads r's JSON body (at most 1 MiB) into v.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return BadRequest(fmt.Errorf("bad request body: %w", err))
	}
	return nil
}

// ServeHTTP gates every request, then routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		w.Header().Set("Connection", "close")
		WriteJSON(w, http.StatusForbidden, api.ErrorBody{Error: "forbidden: Host must be a loopback address"})
		return
	}
	if !originAllowed(r) {
		w.Header().Set("Connection", "close")
		WriteJSON(w, http.StatusForbidden, api.ErrorBody{Error: "forbidden: cross-origin requests are refused"})
		return
	}
	_, pattern := s.mux.Handler(r)
	if !s.public[pattern] && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="peerpath"`)
		w.Header().Set("Connection", "close")
		WriteJSON(w, http.StatusUnauthorized, api.ErrorBody{Error: "unauthorized: missing or wrong API token (see HOME/api-token)"})
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if s.resolver != nil {
		r = r.WithContext(context.WithValue(r.Context(), resolverKey{}, s.resolver))
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) == 1
	}
	return s.session != nil && s.session(r)
}

func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	return s.cfg.BindHost != "" && host == s.cfg.BindHost && !isUnspecified(host)
}

func isUnspecified(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// originAllowed accepts requests with no Origin (CLI, curl) and browser
// requests from the API's own origin only.
func originAllowed(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" {
		return false
	}
	return u.Host == r.Host
}

// Serve serves the API on ln until ctx is done, then shuts down, giving
// open requests up to 2 seconds. It bounds connections as the package doc
// says.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	max := s.cfg.MaxConns
	if max <= 0 {
		max = DefaultMaxConns
	}
	cl := newConnLimiter(ln, max)
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         cl.setState,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(cl) }()
	select {
	case err := <-errc:
		return fmt.Errorf("httpapi: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// WriteNDJSON writes v as one line of JSON (for NDJSON streams).
func WriteNDJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// NDJSON streams values as lines of JSON. The 200 header goes out with the
// first value, so a handler that fails before sending anything can still
// answer with an error status. Send is safe for concurrent use.
type NDJSON struct {
	w       http.ResponseWriter
	mu      sync.Mutex
	started bool
}

// NewNDJSON returns a stream writing to w.
func NewNDJSON(w http.ResponseWriter) *NDJSON { return &NDJSON{w: w} }

// Send writes v as one line and flushes it to the client.
func (s *NDJSON) Send(v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startLocked()
	WriteNDJSON(s.w, v)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Start sends the header if nothing was sent yet (an empty stream).
func (s *NDJSON) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startLocked()
}

// Started reports whether anything (the header) was sent.
func (s *NDJSON) Started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

func (s *NDJSON) startLocked() {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/x-ndjson")
		s.w.WriteHeader(http.StatusOK)
	}
}
