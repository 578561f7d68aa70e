package msg

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// sealFor seals a text from n to p and returns its id and envelope,
// without delivering it.
func sealFor(t *testing.T, n, p *tnode, text string) (string, []byte) {
	t.Helper()
	id := newID()
	return id, sealDetached(t, n, p, payload{Kind: kindText, ID: id, Time: time.Now().UnixMilli(), Text: text})
}

// sealDetached seals pl from n to p without queuing it in n's outbox (so
// n's delivery loop never sends it first): the test hands it over itself.
func sealDetached(t *testing.T, n, p *tnode, pl payload) []byte {
	t.Helper()
	ctx := context.Background()
	if err := n.svc.ensureSession(ctx, p.id()); err != nil {
		t.Fatal(err)
	}
	pt, err := json.Marshal(pl)
	if err != nil {
		t.Fatal(err)
	}
	n.svc.mu.Lock()
	defer n.svc.mu.Unlock()
	var env []byte
	if err := inTx(ctx, n.db, func(tx *sql.Tx) (err error) {
		_, env, err = n.svc.encryptTx(ctx, tx, p.id(), pt)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return env
}

// TestHostileEnvelopes: an envelope of a's session handed over by
// another peer (a forged sender) is refused and stores nothing; a's own
// envelope replayed is acknowledged but stored once; a flood from one
// non-contact is held back by its rate limit without spending keys, so
// it arrives later.
func TestHostileEnvelopes(t *testing.T) {
	a, b, eve := newTNode(t, nil), newTNode(t, nil), newTNode(t, nil)
	connect(t, a, b)
	connect(t, eve, b)
	ctx := context.Background()
	if err := a.svc.ensureSession(ctx, b.id()); err != nil {
		t.Fatal(err)
	}
	_, env := sealFor(t, a, b, "from a")
	// Forged sender: eve delivers a's envelope as her own.
	err := eve.svc.sendDirect(ctx, b.id(), env)
	if err == nil {
		t.Fatal("b took a's envelope from eve")
	}
	if n := len(b.list("")); n != 0 {
		t.Fatalf("b stored %d messages from a forged sender", n)
	}
	// The envelope itself is intact: from a it opens once.
	if err := a.svc.sendDirect(ctx, b.id(), env); err != nil {
		t.Fatal(err)
	}
	// Replayed by a (or anyone who copied it): acknowledged, stored once;
	// replayed by eve: refused.
	if err := a.svc.sendDirect(ctx, b.id(), env); err != nil {
		t.Fatalf("replay from its sender: %v", err)
	}
	if err := eve.svc.sendDirect(ctx, b.id(), env); err == nil {
		t.Fatal("replay from eve accepted")
	}
	if ms := b.list(a.id().String()); len(ms) != 1 || ms[0].Text != "from a" {
		t.Fatalf("b has %+v", ms)
	}
	// Garbage: refused with a status, nothing stored.
	if err := eve.svc.sendDirect(ctx, b.id(), []byte{1, 0, 9, 9, 9}); err == nil {
		t.Fatal("garbage envelope accepted")
	}
	// A stranger's flood: the first strangerBurst arrive, the rest are
	// refused as over the limit (the sender keeps them queued).
	if err := eve.svc.ensureSession(ctx, b.id()); err != nil {
		t.Fatal(err)
	}
	accepted, limited := 0, 0
	for i := range strangerBurst + 10 {
		_, env := sealFor(t, eve, b, fmt.Sprint("spam ", i))
		switch err := eve.svc.sendDirect(ctx, b.id(), env); {
		case err == nil:
			accepted++
		case strings.Contains(err.Error(), "[1]"): // stFull
			limited++
		default:
			t.Fatalf("spam %d: %v", i, err)
		}
	}
	if accepted > strangerBurst+2 || limited < 8 {
		t.Fatalf("flood: %d accepted, %d limited", accepted, limited)
	}
	for _, m := range b.list(eve.id().String()) {
		if m.Folder != FolderRequests {
			t.Fatalf("a stranger's message in %s", m.Folder)
		}
	}
	// A contact is not held to the stranger's limit.
	b.peers.mu.Lock()
	b.peers.contacts[a.id()] = true
	b.peers.mu.Unlock()
	for i := range strangerBurst + 5 {
		if s, err := a.svc.Send(ctx, b.id().String(), fmt.Sprint("friend ", i)); err != nil || s.State != StateDelivered {
			if i >= 25 { // the per-peer direct limit (burst 30) may apply
				break
			}
			t.Fatalf("contact's message %d: %+v %v", i, s, err)
		}
	}
}
