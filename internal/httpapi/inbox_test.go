package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/inbox"
)

// fakeInbox holds waiting offers and records what was done with them.
type fakeInbox struct {
	mu      sync.Mutex
	pending map[string]inbox.Pending
	done    []string
}

func (f *fakeInbox) Send(ctx context.Context, to peer.ID, paths []string) (inbox.Outgoing, error) {
	return inbox.Outgoing{}, nil
}
func (f *fakeInbox) Sends(ctx context.Context) ([]inbox.Outgoing, error)    { return nil, nil }
func (f *fakeInbox) Received(ctx context.Context) ([]inbox.Incoming, error) { return nil, nil }
func (f *fakeInbox) Policy() inbox.Policy                                   { return inbox.Policy{Mode: inbox.PolicyContacts} }
func (f *fakeInbox) SetPolicy(ctx context.Context, mode string, d time.Duration) (inbox.Policy, error) {
	return inbox.Policy{}, nil
}
func (f *fakeInbox) SendUpload(ctx context.Context, to peer.ID, name string, r io.Reader) (inbox.Outgoing, error) {
	return inbox.Outgoing{}, nil
}
func (f *fakeInbox) Pending() []inbox.Pending {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []inbox.Pending
	for _, p := range f.pending {
		out = append(out, p)
	}
	return out
}
func (f *fakeInbox) take(id, what string) (inbox.Pending, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pending[id]
	if !ok {
		return inbox.Pending{}, inbox.ErrNoOffer
	}
	delete(f.pending, id)
	f.done = append(f.done, what+" "+id)
	return p, nil
}
func (f *fakeInbox) Accept(ctx context.Context, id string) (inbox.Pending, error) {
	return f.take(id, "accept")
}
func (f *fakeInbox) Decline(ctx context.Context, id string) (inbox.Pending, error) {
	return f.take(id, "decline")
}

// The waiting offers are listed with their files and expiry; accept and
// decline reach the inbox by id, and an id no longer waiting is a 404.
func TestPendingOffersRoutes(t *testing.T) {
	from, err := peer.Decode("12D3KooWFHRzaes5cmdVjE4boRDnuhuKJoAbtuXRpKUTYgKLxbdy")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	f := &fakeInbox{pending: map[string]inbox.Pending{
		"a1": {ID: "a1", From: from, Files: []inbox.File{{Name: "photo.jpg", CID: "c", Size: 5}}, Time: now, Expires: now.Add(time.Minute)},
		"b2": {ID: "b2", From: from, Files: []inbox.File{{Name: "doc.pdf", CID: "d", Size: 7}}, Time: now, Expires: now.Add(time.Minute)},
	}}
	s := New(Config{Token: "secret", Services: Services{Inbox: f}})
	code, body := do(t, s, http.MethodGet, "/api/v1/receive/pending", "")
	var ps []api.PendingOffer
	if code != 200 || json.Unmarshal([]byte(body), &ps) != nil || len(ps) != 2 {
		t.Fatalf("pending: %d %s", code, body)
	}
	for _, p := range ps {
		if p.From != from.String() || len(p.Files) != 1 || !p.Expires.After(p.Time) {
			t.Fatalf("pending offer %+v", p)
		}
	}
	if code, body := do(t, s, http.MethodPost, "/api/v1/receive/pending/a1/accept", ""); code != 200 || !strings.Contains(body, "photo.jpg") {
		t.Fatalf("accept: %d %s", code, body)
	}
	if code, body := do(t, s, http.MethodPost, "/api/v1/receive/pending/a1/decline", ""); code != http.StatusNotFound || !strings.Contains(body, "answered or expired") {
		t.Fatalf("decline of an answered offer: %d %s", code, body)
	}
	if code, body := do(t, s, http.MethodPost, "/api/v1/receive/pending/b2/decline", ""); code != 200 {
		t.Fatalf("decline: %d %s", code, body)
	}
	if code, _ := do(t, s, http.MethodGet, "/api/v1/receive/pending/b2/accept", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET accept: %d", code)
	}
	if strings.Join(f.done, ",") != "accept a1,decline b2" {
		t.Fatalf("done %v", f.done)
	}
}
