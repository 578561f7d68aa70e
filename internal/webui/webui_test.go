package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLoginCodeWorksOnceAndSetsStrictCookie(t *testing.T) {
	s := NewSessions()
	code := s.NewCode()
	rec := httptest.NewRecorder()
	s.LoginHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ui/login?code="+code, nil))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/" {
		t.Fatalf("login: %d %v", rec.Code, rec.Header())
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Name != CookieName {
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
	forged.AddCookie(&http.Cookie{Name: CookieName, Value: strings.Repeat("0", 64)})
	if s.Valid(forged) {
		t.Fatal("forged session accepted")
	}
	s.Logout(get)
	if s.Valid(get) {
		t.Fatal("session valid after logout")
	}
}

func TestExpiredCodeRefused(t *testing.T) {
	s := NewSessions()
	now := time.Now()
	s.now = func() time.Time { return now }
	code := s.NewCode()
	s.now = func() time.Time { return now.Add(CodeTTL + time.Second) }
	rec := httptest.NewRecorder()
	s.LoginHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ui/login?code="+code, nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("expired code: %d", rec.Code)
	}
}

func TestAppNeedsSession(t *testing.T) {
	s := NewSessions()
	rec := httptest.NewRecorder()
	s.AppHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ui/", nil))
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "peerpath ui") {
		t.Fatalf("no session: %d %s", rec.Code, rec.Body)
	}
	code := s.NewCode()
	lrec := httptest.NewRecorder()
	s.LoginHandler().ServeHTTP(lrec, httptest.NewRequest("GET", "/ui/login?code="+code, nil))
	for _, path := range []string{"/ui/", "/ui/app.js", "/ui/style.css"} {
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
