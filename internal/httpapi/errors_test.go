package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/transfer"
)

// An error wrapping two sentinels gets the status of the one listed first
// in errorStatuses, whichever order it wraps them in, every time.
func TestStatusPrecedence(t *testing.T) {
	cases := []struct {
		name string
		a, b error
		want int
	}{
		// request errors beat state, state beats availability, availability beats peers
		{"invalid beats insufficient funds", ledger.ErrInvalid, ledger.ErrInsufficientFunds, http.StatusBadRequest},
		{"not found beats no providers", share.ErrNotFound, transfer.ErrNoProviders, http.StatusNotFound},
		{"in progress beats bad content", transfer.ErrInProgress, transfer.ErrBadContent, http.StatusConflict},
		{"no leader beats unsafe name", ledger.ErrNoLeader, transfer.ErrUnsafeName, http.StatusServiceUnavailable},
		{"domain beats deadline", transfer.ErrExists, context.DeadlineExceeded, http.StatusConflict},
		{"not enabled beats all", ledger.ErrInvalid, ErrNotEnabled, http.StatusServiceUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range 20 {
				for _, err := range []error{
					errors.Join(c.a, c.b),
					errors.Join(c.b, c.a),
					fmt.Errorf("x: %w: %w", c.a, c.b),
					fmt.Errorf("x: %w: %w", c.b, c.a),
				} {
					if got := statusOf(err); got != c.want {
						t.Fatalf("try %d: statusOf(%v) = %d, want %d", i, err, got, c.want)
					}
				}
			}
		})
	}
	// An explicit StatusError wins over the table.
	if got := statusOf(&StatusError{Status: http.StatusTeapot, Err: ledger.ErrInvalid}); got != http.StatusTeapot {
		t.Fatalf("StatusError: %d", got)
	}
	if got := statusOf(errors.New("plain")); got != http.StatusInternalServerError {
		t.Fatalf("plain error: %d", got)
	}
}

// No sentinel is listed twice: a second entry would never apply.
func TestStatusTableUnique(t *testing.T) {
	seen := map[error]bool{}
	for _, e := range errorStatuses {
		if seen[e.err] {
			t.Errorf("%v listed twice", e.err)
		}
		seen[e.err] = true
	}
}

// A service the node lacks answers 503 on every one of its routes.
func TestNotEnabled(t *testing.T) {
	s := New(Config{Token: "secret"})
	for _, path := range []string{"/api/v1/search?q=x", "/api/v1/wallet", "/api/v1/jobs", "/api/v1/market/orders", "/api/v1/downloads", "/api/v1/shares", "/api/v1/id"} {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:5101"+path, nil)
		req.Header.Set("Authorization", "Bearer secret")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("GET %s: %d, want 503", path, rec.Code)
		}
	}
}
