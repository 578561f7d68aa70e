package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLoginCodeWorksOnceAndSetsStrictCookie(t *testing.T) {
	s := NewSessions(CookieName(5101))
	code := s.NewCode()
	rec := httptest.NewRecorder()
	s.LoginHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ui/login?code="+code, nil))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/" {
		t.Fatalf("login: %d %v", rec.Code, rec.Header())
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Name != "peerpath_session_5101" ||
		cookies[0].MaxAge != int(SessionTTL/time.Second) || SessionTTL > 12*time.Hour {
		t.Fatalf("cookie: %+v", cookies)
	}
	// The code works once.
	rec = httptest.NewRecorder()
	s.LoginHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ui/login?code="+code, nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("second use: %d", rec.Code)
	}
	// The cookie authenticates reads; writes need the CSRF header too.
	get := httptest.NewRequest("GET", "/api/v1/id", nil)
	get.AddCookie(cookies[0])
	if !s.Valid(get) {
		t.Fatal("GET with session refused")
	}
	post := httptest.NewRequest("POST", "/api/v1/wallet/send", nil)
	post.AddCookie(cookies[0])
	if s.Valid(post) {
		t.Fatal("POST without CSRF header accepted")
	}
	post.Header.Set(CSRFHeader, "1")
	if !s.Valid(post) {
		t.Fatal("POST with CSRF header refused")
	}
	// A forged cookie is refused; logout ends the session.
	forged := httptest.NewRequest("GET", "/", nil)
	forged.AddCookie(&http.Cookie{Name: s.CookieName(), Value: strings.Repeat("0", 64)})
	if s.Valid(forged) {
		t.Fatal("forged session accepted")
	}
	s.Logout(get)
	if s.Valid(get) {
		t.Fatal("session valid after logout")
	}
}

func TestExpiredCodeRefused(t *testing.T) {
	s := NewSessions(CookieName(5101))
	now := time.Now()
	s.now = func() time.Time { return now }
	if CodeTTL < 10*time.Minute {
		t.Fatalf("a login link lives %s: too short for a person", CodeTTL)
	}
	code := s.NewCode()
	s.now = func() time.Time { return now.Add(CodeTTL + time.Second) }
	rec := httptest.NewRecorder()
	s.LoginHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ui/login?code="+code, nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("expired code: %d", rec.Code)
	}
}

func TestAppNeedsSession(t *testing.T) {
	s := NewSessions(CookieName(5101))
	rec := httptest.NewRecorder()
	s.AppHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ui/", nil))
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "peerpath ui") {
		t.Fatalf("no session: %d %s", rec.Code, rec.Body)
	}
	code := s.NewCode()
	lrec := httptest.NewRecorder()
	s.LoginHandler().ServeHTTP(lrec, httptest.NewRequest("GET", "/ui/login?code="+code, nil))
	paths := []string{"/ui/", "/ui/core.js", "/ui/style.css"}
	for _, p := range Pages() {
		paths = append(paths, "/ui/"+p)
	}
	for _, path := range paths {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(lrec.Result().Cookies()[0])
		rec = httptest.NewRecorder()
		s.AppHandler().ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Fatalf("%s: %d", path, rec.Code)
		}
		if rec.Header().Get("Content-Security-Policy") == "" {
			t.Fatalf("%s: no CSP", path)
		}
	}
}

// Two nodes on one host: the browser sends both cookies to both ports, and
// each node reads only its own.
func TestSessionsOfTwoNodesStayApart(t *testing.T) {
	a, b := NewSessions(CookieName(5101)), NewSessions(CookieName(5102))
	login := func(s *Sessions) *http.Cookie {
		rec := httptest.NewRecorder()
		s.LoginHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ui/login?code="+s.NewCode(), nil))
		return rec.Result().Cookies()[0]
	}
	ca, cb := login(a), login(b)
	if ca.Name == cb.Name {
		t.Fatalf("both nodes use the cookie name %q", ca.Name)
	}
	both := httptest.NewRequest("GET", "/api/v1/id", nil)
	both.AddCookie(ca)
	both.AddCookie(cb)
	if !a.Valid(both) || !b.Valid(both) {
		t.Fatal("a node refused its own session beside the other's")
	}
	// b's session value under a's name is not a's session.
	swapped := httptest.NewRequest("GET", "/api/v1/id", nil)
	swapped.AddCookie(&http.Cookie{Name: ca.Name, Value: cb.Value})
	if a.Valid(swapped) {
		t.Fatal("node a accepted node b's session")
	}
}

func TestExpiredSessionRefused(t *testing.T) {
	s := NewSessions(CookieName(5101))
	now := time.Now()
	s.now = func() time.Time { return now }
	rec := httptest.NewRecorder()
	s.LoginHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ui/login?code="+s.NewCode(), nil))
	req := httptest.NewRequest("GET", "/api/v1/id", nil)
	req.AddCookie(rec.Result().Cookies()[0])
	if !s.Valid(req) {
		t.Fatal("fresh session refused")
	}
	s.now = func() time.Time { return now.Add(SessionTTL + time.Second) }
	if s.Valid(req) {
		t.Fatal("session valid after SessionTTL")
	}
}

// The app's page loads core.js and every page module, each of which
// registers itself under its file's name.
func TestIndexLoadsEveryPage(t *testing.T) {
	pages := Pages()
	if len(pages) < 8 {
		t.Fatalf("pages %v", pages)
	}
	for _, p := range append([]string{"core.js"}, pages...) {
		if !strings.Contains(string(index()), `<script type="module" src="`+p+`"></script>`) {
			t.Errorf("index.html does not load %s", p)
		}
	}
	for _, p := range pages {
		src, err := static.ReadFile("static/" + p)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p, "pages/"), ".js")
		if !strings.Contains(string(src), `name: "`+name+`"`) || !strings.Contains(string(src), `from "../core.js"`) {
			t.Errorf("%s does not register page %q through core.js", p, name)
		}
	}
}
