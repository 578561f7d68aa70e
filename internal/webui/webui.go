// Package webui serves the embedded web app and its login.
//
// The app is plain HTML, CSS and JavaScript embedded with go:embed, so `go
// build` alone produces a working app; there is no front-end toolchain.
// Each page is its own module, static/pages/NAME.js, which the index this
// package renders loads; README.md says how to add one and how a page
// receives live events (GET /api/v1/events).
//
// Login works the way Jupyter's does: `peerpath ui` asks the daemon (with the
// API token) for a one-time login URL; opening it exchanges the code for a
// session cookie (HttpOnly, SameSite=Strict, eight hours) and redirects to
// the app. Codes expire after ten minutes (long enough to copy a link from a
// terminal into a browser) and work once. The app then calls the same
// /api/v1 endpoints as the CLI, authenticated by the cookie. Cross-site
// request forgery fails three ways: the cookie is SameSite=Strict, the API
// refuses foreign Origins, and cookie-authenticated requests that change
// state must carry the X-Peerpath-CSRF header, which no cross-origin form or
// simple request can set.
//
// Browsers do not separate cookies by port: every program listening on
// localhost receives the cookies of every other. So each node names its
// cookie after its API port ([CookieName]): two daemons on one host keep
// their own sessions, and a login to one never replaces the other's. What a
// cookie cannot do is hide from the other local ports; its short life bounds
// what a program that collects it can do with it.
package webui

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

// index is the app's page: static/index.html with a <script> for every
// static/pages/*.js and a <link> for every static/pages/*.css, so adding a
// page is adding its file (see README.md). It is rendered at its first
// request, not at start, so an idle daemon never runs html/template (idle
// memory, docs/performance.md).
var index = sync.OnceValue(func() []byte { return renderIndex(static) })

// Pages lists the page modules the app loads ("pages/home.js", ...), sorted.
func Pages() []string { return pageFiles(static, ".js") }

func pageFiles(fsys fs.FS, ext string) []string {
	entries, err := fs.ReadDir(fsys, "static/pages")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ext) {
			out = append(out, path.Join("pages", e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

func renderIndex(fsys fs.FS) []byte {
	tpl := template.Must(template.ParseFS(fsys, "static/index.html"))
	var b bytes.Buffer
	if err := tpl.Execute(&b, struct{ Scripts, Styles []string }{pageFiles(fsys, ".js"), pageFiles(fsys, ".css")}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// CookiePrefix begins every session cookie's name.
const CookiePrefix = "peerpath_session_"

// CookieName is the session cookie's name of the node whose API listens on
// port.
func CookieName(port int) string { return CookiePrefix + strconv.Itoa(port) }

// CSRFHeader must be present on cookie-authenticated requests that change
// state.
const CSRFHeader = "X-Peerpath-CSRF"

// Sessions holds one-time login codes and browser sessions, in memory: a
// daemon restart logs browsers out.
type Sessions struct {
	cookie string // the session cookie's name

	mu       sync.Mutex
	codes    map[string]time.Time // code -> expiry
	sessions map[string]time.Time // session id -> expiry
	now      func() time.Time
}

// NewSessions returns an empty session store whose sessions are carried
// by the cookie named cookie (see [CookieName]).
func NewSessions(cookie string) *Sessions {
	return &Sessions{cookie: cookie, codes: map[string]time.Time{}, sessions: map[string]time.Time{}, now: time.Now}
}

// CookieName returns the name of the store's session cookie.
func (s *Sessions) CookieName() string { return s.cookie }

// Lifetimes of a login code and of a session. A session lasts a working
// day: long enough not to be a nuisance, short enough that a cookie read by
// another local program soon stops working.
const (
	CodeTTL    = 10 * time.Minute
	SessionTTL = 8 * time.Hour
)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NewCode returns a fresh one-time login code.
func (s *Sessions) NewCode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for c, exp := range s.codes {
		if now.After(exp) {
			delete(s.codes, c)
		}
	}
	c := randomHex(24)
	s.codes[c] = now.Add(CodeTTL)
	return c
}

// redeem consumes a code and returns a new session id.
func (s *Sessions) redeem(code string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.codes[code]
	if !ok {
		return "", false
	}
	delete(s.codes, code)
	now := s.now()
	if now.After(exp) {
		return "", false
	}
	for id, exp := range s.sessions {
		if now.After(exp) {
			delete(s.sessions, id)
		}
	}
	id := randomHex(32)
	s.sessions[id] = s.now().Add(SessionTTL)
	return id, true
}

// Valid reports whether r carries a live session cookie; requests that
// change state must also carry the CSRF header.
func (s *Sessions) Valid(r *http.Request) bool {
	c, err := r.Cookie(s.cookie)
	if err != nil || c.Value == "" {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if r.Header.Get(CSRFHeader) == "" {
			return false
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, exp := range s.sessions {
		if subtle.ConstantTimeCompare([]byte(id), []byte(c.Value)) == 1 {
			return s.now().Before(exp)
		}
	}
	return false
}

// Logout ends the session of r, if any.
func (s *Sessions) Logout(r *http.Request) {
	if c, err := r.Cookie(s.cookie); err == nil {
		s.mu.Lock()
		delete(s.sessions, c.Value)
		s.mu.Unlock()
	}
}

// LoginHandler redeems ?code= and sets the session cookie, then redirects
// to the app; a bad or used code gets a short page saying how to get a new
// one.
func (s *Sessions) LoginHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.redeem(r.URL.Query().Get("code"))
		if !ok {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`<!doctype html><title>peerpath</title><p>This login link is invalid, expired or already used. Run <code>peerpath ui</code> (or <code>peerpath ui --print-url</code>) for a new one.</p>`))
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name:     s.cookie,
			Value:    id,
			Path:     "/",
			HttpOnly: true,
			SameSite: http.SameSiteStrictMode,
			MaxAge:   int(SessionTTL / time.Second),
		})
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
	})
}

// LogoutHandler ends the session and clears the cookie.
func (s *Sessions) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Logout(r)
		http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
		w.WriteHeader(http.StatusNoContent)
	})
}

// AppHandler serves the app's files under /ui/. Without a session it
// serves a page that says how to log in.
func (s *Sessions) AppHandler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if !s.Valid(r) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`<!doctype html><html lang="en"><title>peerpath: log in</title><body><main><h1>peerpath</h1><p>To open the app, run <code>peerpath ui</code> on this machine, or <code>peerpath ui --print-url</code> and open the link it prints.</p></main></body></html>`))
			return
		}
		if r.URL.Path == "/ui/" || r.URL.Path == "/ui/index.html" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(index())
			return
		}
		files.ServeHTTP(w, r)
	})
}
