package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/market"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// errGone maps to 410 through the error table.
var errGone = fmt.Errorf("gone: %w", market.ErrExpired)

func newTestServer() *Server {
	s := New(Config{Token: "secret"})
	s.HandleFunc("GET /api/v1/ping", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return map[string]string{"pong": "yes"}, nil
	})
	s.HandleFunc("GET /api/v1/gone", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, errGone
	})
	s.HandleFunc("GET /api/v1/bad", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, BadRequest(errors.New("nope"))
	})
	return s
}

func TestGate(t *testing.T) {
	s := newTestServer()
	cases := []struct {
		name   string
		host   string
		auth   string
		origin string
		site   string
		path   string
		want   int
	}{
		{"token", "127.0.0.1:5101", "Bearer secret", "", "", "/api/v1/ping", 200},
		{"localhost", "localhost:5101", "Bearer secret", "", "", "/api/v1/ping", 200},
		{"ipv6 loopback", "[::1]:5101", "Bearer secret", "", "", "/api/v1/ping", 200},
		{"no token", "127.0.0.1:5101", "", "", "", "/api/v1/ping", 401},
		{"wrong token", "127.0.0.1:5101", "Bearer guess", "", "", "/api/v1/ping", 401},
		{"foreign origin", "127.0.0.1:5101", "Bearer secret", "http://evil.example", "", "/api/v1/ping", 403},
		{"foreign origin no token", "127.0.0.1:5101", "", "http://evil.example", "", "/api/v1/ping", 403},
		{"same origin", "127.0.0.1:5101", "Bearer secret", "http://127.0.0.1:5101", "same-origin", "/api/v1/ping", 200},
		{"null origin", "127.0.0.1:5101", "Bearer secret", "null", "", "/api/v1/ping", 403},
		{"cross-site fetch", "127.0.0.1:5101", "Bearer secret", "", "cross-site", "/api/v1/ping", 403},
		{"rebinding host", "attacker.example:5101", "Bearer secret", "", "", "/api/v1/ping", 403},
		{"lan host", "192.168.1.4:5101", "Bearer secret", "", "", "/api/v1/ping", 403},
		{"mapped error", "127.0.0.1:5101", "Bearer secret", "", "", "/api/v1/gone", 410},
		{"bad request", "127.0.0.1:5101", "Bearer secret", "", "", "/api/v1/bad", 400},
		{"metrics need token", "127.0.0.1:5101", "", "", "", "/metrics", 401},
		{"unknown path", "127.0.0.1:5101", "Bearer secret", "", "", "/api/v1/nothing", 404},
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", c.path, nil)
		req.Host = c.host
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		if c.site != "" {
			req.Header.Set("Sec-Fetch-Site", c.site)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s: status %d, want %d (%s)", c.name, rec.Code, c.want, rec.Body)
		}
	}
}

func TestServeWithClient(t *testing.T) {
	s := newTestServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	c := api.NewClient("http://"+ln.Addr().String(), "secret")
	var out map[string]string
	if err := c.Do(ctx, "GET", "/api/v1/ping", nil, &out); err != nil || out["pong"] != "yes" {
		t.Fatalf("ping: %v %v", out, err)
	}
	err = c.Do(ctx, "GET", "/api/v1/gone", nil, nil)
	var ae *api.Error
	// The message is in plain words with the next step; the code's own
	// words stay in Detail.
	if !errors.As(err, &ae) || ae.Status != 410 || ae.Detail != errGone.Error() || ae.Code != "listing_expired" ||
		ae.Message != "this listing has expired" || !strings.Contains(err.Error(), "; the seller has to list it again") {
		t.Fatalf("gone: %v", err)
	}
	bad := api.NewClient("http://"+ln.Addr().String(), "wrong")
	if err := bad.Do(ctx, "GET", "/api/v1/ping", nil, nil); !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("wrong token: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	c.CloseIdle()
	bad.CloseIdle()
}

func TestNDJSONSendsHeaderWithFirstValue(t *testing.T) {
	rec := httptest.NewRecorder()
	s := NewNDJSON(rec)
	if s.Started() {
		t.Fatal("started before sending")
	}
	s.Send(map[string]int{"a": 1})
	s.Send(map[string]int{"a": 2})
	if !s.Started() || rec.Code != 200 || rec.Header().Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("code %d, header %v", rec.Code, rec.Header())
	}
	if got := rec.Body.String(); got != "{\"a\":1}\n{\"a\":2}\n" {
		t.Fatalf("body %q", got)
	}
	// An empty stream still answers 200 once started.
	rec = httptest.NewRecorder()
	NewNDJSON(rec).Start()
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("empty stream: %d %q", rec.Code, rec.Body)
	}
}
