package contacts

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
	"github.com/peerpath/peerpath/internal/testutil"
)

type testNode struct {
	s  *Service
	h  host.Host
	db *store.DB
}

// newNode starts a contacts service on a loopback host; every connected
// peer counts as a LAN neighbour.
func newNode(t *testing.T, dir string, invisible bool) *testNode {
	t.Helper()
	h, err := p2p.NewLoopbackHost(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := store.Open(filepath.Join(dir, "node.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := New(context.Background(), Config{Host: h, DB: db, LAN: func(peer.ID) bool { return true }, Invisible: invisible})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return &testNode{s: s, h: h, db: db}
}

func connect(t *testing.T, a, b *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.h.Connect(ctx, peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckName(t *testing.T) {
	id := "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
	for _, bad := range []string{"", "   ", strings.Repeat("x", 65), "a\nb", "evil\u202eboB", id, "group:friends", "\xff\xfe"} {
		if _, err := CheckName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName", bad, err)
		}
	}
	for _, good := range []string{"Ana's laptop", "  Bob  ", "Zoë 📱", strings.Repeat("é", 64)} {
		n, err := CheckName(good)
		if err != nil || n != strings.TrimSpace(good) {
			t.Errorf("CheckName(%q) = %q, %v", good, n, err)
		}
	}
	if _, err := CheckDevice("toaster"); !errors.Is(err, ErrBadDevice) {
		t.Errorf("CheckDevice(toaster) = %v", err)
	}
	if d, err := CheckDevice(" Laptop "); err != nil || d != "laptop" {
		t.Errorf("CheckDevice(Laptop) = %q, %v", d, err)
	}
}

// A peer's name reaches its neighbour when they connect and again when it
// changes; a contact's petname wins over it, and a stranger announcing a
// contact's name is shown as unverified and never resolved.
func TestProfilesAndPetnames(t *testing.T) {
	ctx := context.Background()
	ana, bob, eve := newNode(t, "", false), newNode(t, "", false), newNode(t, "", false)
	if _, err := ana.s.SetProfile(ctx, "Ana's laptop", "laptop"); err != nil {
		t.Fatal(err)
	}
	if _, err := eve.s.SetProfile(ctx, "Ana", "phone"); err != nil {
		t.Fatal(err)
	}
	connect(t, bob, ana)
	connect(t, eve, bob)
	testutil.Eventually(t, 5*time.Second, "bob to hear ana's and eve's names", func() bool {
		return bob.s.Label(ana.h.ID()).Kind == "unverified" && bob.s.Label(eve.h.ID()).Kind == "unverified"
	})
	if l := bob.s.Label(ana.h.ID()); l.Name != "Ana's laptop" || !strings.Contains(l.Text, "unverified") {
		t.Fatalf("label of ana = %+v", l)
	}
	ns := bob.s.Neighbours()
	if len(ns) != 2 {
		t.Fatalf("neighbours = %+v", ns)
	}
	// Bob makes Ana a contact named "Ana"; Eve announces "Ana" too.
	if _, err := bob.s.Add(ctx, ana.h.ID(), "Ana"); err != nil {
		t.Fatal(err)
	}
	if id, err := bob.s.Resolve("ana"); err != nil || id != ana.h.ID() {
		t.Fatalf("Resolve(ana) = %s, %v; want ana %s (eve is %s)", id, err, ana.h.ID(), eve.h.ID())
	}
	if l := bob.s.Label(ana.h.ID()); l.Kind != "contact" || l.Text != "Ana" {
		t.Fatalf("label of ana = %+v", l)
	}
	if l := bob.s.Label(eve.h.ID()); l.Kind != "unverified" || l.Text == "Ana" {
		t.Fatalf("label of eve = %+v, must not read as the contact", l)
	}
	if _, err := bob.s.Add(ctx, eve.h.ID(), "ANA"); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("a second contact named ANA: %v", err)
	}
	if _, err := bob.s.Resolve("Ana's laptop"); !errors.Is(err, ErrUnknownName) {
		t.Fatalf("a self-chosen name resolved: %v", err)
	}
	if id, err := bob.s.Resolve(eve.h.ID().String()); err != nil || id != eve.h.ID() {
		t.Fatalf("Resolve(peer id) = %s, %v", id, err)
	}
	// A rename reaches connected peers.
	if _, err := eve.s.SetProfile(ctx, "Eve's phone", ""); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "bob to hear eve's new name", func() bool {
		return bob.s.Label(eve.h.ID()).Name == "Eve's phone"
	})
	if _, err := bob.s.Add(ctx, bob.h.ID(), "me"); !errors.Is(err, ErrSelf) {
		t.Fatalf("adding itself: %v", err)
	}
}

// Contacts see each other online, offline with a last-seen time once
// disconnected, and offline while invisible; the address book survives a
// restart.
func TestPresence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ana, bob := newNode(t, dir, false), newNode(t, "", false)
	if _, err := ana.s.Add(ctx, bob.h.ID(), "Bob"); err != nil {
		t.Fatal(err)
	}
	online := func() bool {
		cs, _ := ana.s.List(ctx)
		return len(cs) == 1 && cs[0].Online
	}
	if online() {
		t.Fatal("bob online before any connection")
	}
	connect(t, ana, bob)
	testutil.Eventually(t, 5*time.Second, "bob online", online)
	bob.h.Network().ClosePeer(ana.h.ID())
	testutil.Eventually(t, 5*time.Second, "bob offline", func() bool { return !online() })
	cs, _ := ana.s.List(ctx)
	if cs[0].LastSeen.IsZero() || time.Since(cs[0].LastSeen) > time.Minute {
		t.Fatalf("last seen = %v", cs[0].LastSeen)
	}
	if _, err := bob.s.SetInvisible(ctx, true); err != nil {
		t.Fatal(err)
	}
	connect(t, ana, bob)
	testutil.Eventually(t, 5*time.Second, "ana to hear bob's profile", func() bool {
		ana.s.mu.Lock()
		defer ana.s.mu.Unlock()
		_, ok := ana.s.peers[bob.h.ID()]
		return ok
	})
	if online() {
		t.Fatal("an invisible contact shown online")
	}
	if _, err := bob.s.SetInvisible(ctx, false); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "bob online again", online)

	// The address book is in the database.
	s2, err := New(ctx, Config{Host: ana.h, DB: ana.db})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := s2.Resolve("bob"); err != nil || id != bob.h.ID() {
		t.Fatalf("after reopening: %s, %v", id, err)
	}
	if _, err := s2.Remove(ctx, "BOB"); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Resolve("bob"); !errors.Is(err, ErrUnknownName) {
		t.Fatalf("removed contact still resolves: %v", err)
	}
	if _, err := s2.Remove(ctx, "bob"); !errors.Is(err, ErrNoContact) {
		t.Fatalf("removing twice: %v", err)
	}
	ana.h.SetStreamHandler(ProtocolID, ana.s.handle)
}

// The daemon's --invisible overrides a visible setting.
func TestInvisibleFlag(t *testing.T) {
	ctx := context.Background()
	ana, bob := newNode(t, "", false), newNode(t, "", true)
	if _, err := ana.s.Add(ctx, bob.h.ID(), "Bob"); err != nil {
		t.Fatal(err)
	}
	if p, _ := bob.s.SetInvisible(ctx, false); !p.Invisible {
		t.Fatal("--invisible overridden by the saved setting")
	}
	connect(t, ana, bob)
	testutil.Eventually(t, 5*time.Second, "ana to hear bob", func() bool { return ana.s.Label(bob.h.ID()).Kind == "contact" && ana.s.knows(bob.h.ID()) })
	if ana.s.Online(bob.h.ID()) {
		t.Fatal("invisible peer online")
	}
}

func (s *Service) knows(id peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.peers[id]
	return ok
}

func FuzzDecodeProfile(f *testing.F) {
	f.Add([]byte(`{"name":"Ana's laptop","device":"laptop"}`))
	f.Add([]byte(`{"name":"a\u202eb","device":"toaster","invisible":true}`))
	f.Add([]byte(`{"name":12}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeProfile(b)
		if err != nil {
			return
		}
		if p.Name != "" {
			if n, err := CheckName(p.Name); err != nil || n != p.Name {
				t.Fatalf("decoded a name that fails the checks: %q", p.Name)
			}
		}
		if _, err := CheckDevice(p.Device); err != nil {
			t.Fatalf("decoded a bad device %q", p.Device)
		}
		if len(encodeProfile(p)) > maxProfileMsg {
			t.Fatal("re-encoded profile too large")
		}
	})
}
