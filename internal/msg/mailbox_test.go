package msg

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/msg/ratchet"
)

func randomPeer(t testing.TB) (peer.ID, lcrypto.PrivKey) {
	k, _, err := lcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return id, k
}

func envFor(i int) []byte {
	e := envelope{CT: make([]byte, 32)}
	binary.BigEndian.PutUint64(e.SID[:], uint64(i))
	return e.encode()
}

// TestMailboxBounds: a mailbox stores at most mailboxPerTag envelopes
// under one tag and mailboxPerSender from one peer, drops what expired,
// deletes only what is acknowledged with its tag, and keeps a bundle only
// from the peer it belongs to.
func TestMailboxBounds(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	m := newTNode(t, func(c *Config) { c.Now = func() time.Time { return time.Unix(0, clock.Load()) } })
	ctx := context.Background()
	put := func(from peer.ID, tag [tagSize]byte, i int) byte {
		return m.svc.serveMailbox(ctx, from, mailboxRequest{Op: opPut, Tags: [][tagSize]byte{tag}, Blob: envFor(i)})[0]
	}
	// Per tag, whoever sends.
	tag := [tagSize]byte{7}
	for i := range mailboxPerTag {
		p, _ := randomPeer(t)
		if st := put(p, tag, i); st != stOK {
			t.Fatalf("put %d: status %d", i, st)
		}
	}
	p, _ := randomPeer(t)
	if st := put(p, tag, -1); st != stFull {
		t.Fatalf("put past the tag's bound: status %d", st)
	}
	// Per sender, whatever the tags.
	spammer, _ := randomPeer(t)
	for i := range mailboxPerSender {
		if st := put(spammer, [tagSize]byte{byte(i), byte(i >> 8), 1}, i); st != stOK {
			t.Fatalf("spammer put %d: status %d", i, st)
		}
	}
	if st := put(spammer, [tagSize]byte{9, 9, 9}, 5000); st != stFull {
		t.Fatalf("put past the sender's bound: status %d", st)
	}
	// A malformed envelope is refused before anything is stored.
	if st := m.svc.serveMailbox(ctx, p, mailboxRequest{Op: opPut, Tags: [][tagSize]byte{{1}}, Blob: []byte{9, 9}})[0]; st != stBad {
		t.Fatalf("garbage put: status %d", st)
	}
	// Get hands out what a tag holds; an ack with another tag deletes nothing.
	ans := m.svc.serveMailbox(ctx, p, mailboxRequest{Op: opGet, Tags: [][tagSize]byte{tag}})
	items, err := decodeItems(ans[1:])
	if err != nil || len(items) != mailboxPerTag {
		t.Fatalf("get: %d items, %v", len(items), err)
	}
	m.svc.serveMailbox(ctx, p, mailboxRequest{Op: opAck, Tags: [][tagSize]byte{{8}}, Items: [][itemIDSize]byte{items[0].ID}})
	n, _, _ := m.svc.MailboxHolds(ctx, nil)
	if n != mailboxPerTag+mailboxPerSender {
		t.Fatalf("holds %d after an ack under the wrong tag", n)
	}
	m.svc.serveMailbox(ctx, p, mailboxRequest{Op: opAck, Tags: [][tagSize]byte{tag}, Items: [][itemIDSize]byte{items[0].ID}})
	if n2, _, _ := m.svc.MailboxHolds(ctx, nil); n2 != n-1 {
		t.Fatalf("holds %d after an ack, want %d", n2, n-1)
	}
	// Expiry.
	clock.Add(int64(7*24*time.Hour + time.Second))
	m.svc.expire(ctx)
	if n, _, _ := m.svc.MailboxHolds(ctx, nil); n != 0 {
		t.Fatalf("holds %d expired envelopes", n)
	}
	// Bundles: only from their owner.
	owner, key := randomPeer(t)
	raw, _ := key.Raw()
	dh, _ := ratchet.NewKeyPair(nil)
	spk, _ := ratchet.NewKeyPair(nil)
	b := ratchet.NewBundle(ratchet.Identity{Sign: raw, DH: dh}, 1, spk).Encode()
	if st := m.svc.serveMailbox(ctx, p, mailboxRequest{Op: opPutBundle, Blob: b})[0]; st != stRefused {
		t.Fatalf("someone else's bundle: status %d", st)
	}
	if st := m.svc.serveMailbox(ctx, owner, mailboxRequest{Op: opPutBundle, Blob: b})[0]; st != stOK {
		t.Fatalf("own bundle: status %d", st)
	}
	got := m.svc.serveMailbox(ctx, p, mailboxRequest{Op: opGetBundle, Blob: []byte(owner)})
	if got[0] != stOK || string(got[1:]) != string(b) {
		t.Fatal("bundle not handed out")
	}
}

// TestBlockedPeerRefused: a blocked peer's messages are refused, and a
// stranger's land in requests.
func TestBlockedPeerRefused(t *testing.T) {
	var blocked atomic.Value
	blocked.Store(peer.ID(""))
	a := newTNode(t, nil)
	b := newTNode(t, func(c *Config) { c.Blocked = func(p peer.ID) bool { return p == blocked.Load().(peer.ID) } })
	connect(t, a, b)
	ctx := context.Background()
	if s, err := a.svc.Send(ctx, b.id().String(), "first"); err != nil || s.State != StateDelivered {
		t.Fatalf("%+v %v", s, err)
	}
	blocked.Store(a.id())
	if s, err := a.svc.Send(ctx, b.id().String(), "second"); err != nil || s.State == StateDelivered {
		t.Fatalf("a blocked peer's message: %+v %v", s, err)
	}
	ms := b.list("")
	if len(ms) != 1 || ms[0].Text != "first" || ms[0].Folder != FolderRequests {
		t.Fatalf("b has %+v", ms)
	}
}
