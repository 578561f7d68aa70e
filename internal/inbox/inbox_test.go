package inbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
	"github.com/peerpath/peerpath/internal/testutil"
)

const testCID = "bafkr4ihkr4ld3m4gqkjf4reryxsy2s5tkbxprqkow6fin2iiyvreuzzab4"

type fakeContacts struct {
	h        host.Host
	mu       sync.Mutex
	contacts map[peer.ID]bool
	addrs    map[peer.ID]peer.AddrInfo
}

func (c *fakeContacts) IsContact(id peer.ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.contacts[id]
}

func (c *fakeContacts) Reach(ctx context.Context, id peer.ID) error {
	c.mu.Lock()
	info, ok := c.addrs[id]
	c.mu.Unlock()
	if !ok {
		return errors.New("unknown")
	}
	return c.h.Connect(ctx, info)
}

type fakeFiles struct{}

func (fakeFiles) Offer(ctx context.Context, path string) (File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return File{}, err
	}
	return File{Name: filepath.Base(path), CID: testCID, Size: st.Size()}, nil
}

type fakeDownloads struct {
	mu  sync.Mutex
	got []string
}

func (d *fakeDownloads) Fetch(from peer.ID, f File) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, from.String()+" "+f.Name)
	return nil
}

func (d *fakeDownloads) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.got)
}

type node struct {
	s  *Service
	h  host.Host
	c  *fakeContacts
	dl *fakeDownloads
}

func newNode(t *testing.T) *node {
	t.Helper()
	h, err := p2p.NewLoopbackHost(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	db, err := store.Open(filepath.Join(t.TempDir(), "node.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &fakeContacts{h: h, contacts: map[peer.ID]bool{}, addrs: map[peer.ID]peer.AddrInfo{}}
	dl := &fakeDownloads{}
	s, err := New(context.Background(), Config{Host: h, DB: db, Contacts: c, Files: fakeFiles{}, Downloads: dl, Outbox: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &node{s: s, h: h, c: c, dl: dl}
}

// waitState waits for send id to reach state with a reason holding why.
func (n *node) waitState(t *testing.T, id, state, why string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, "send "+id+" to be "+state, func() bool {
		ss, _ := n.s.Sends(context.Background())
		for _, o := range ss {
			if o.ID == id {
				return o.State == state && strings.Contains(o.Reason, why)
			}
		}
		return false
	})
}

func (n *node) knows(o *node, contact bool) {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	n.c.addrs[o.h.ID()] = peer.AddrInfo{ID: o.h.ID(), Addrs: o.h.Addrs()}
	n.c.contacts[o.h.ID()] = contact
}

func tempFile(t *testing.T, name string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ana, bob := newNode(t), newNode(t)
	ana.knows(bob, true)
	bob.knows(ana, false)
	f := tempFile(t, "photo.jpg")

	// Default policy: contacts. Ana is not Bob's contact: her offer waits
	// for Bob, who declines it.
	o, err := ana.s.Send(ctx, bob.h.ID(), []string{f})
	if err != nil {
		t.Fatal(err)
	}
	if o.State != StatePending {
		t.Fatalf("send to a receiver who does not know us: %+v", o)
	}
	ps := bob.s.Pending()
	if len(ps) != 1 || ps[0].From != ana.h.ID() {
		t.Fatalf("pending = %+v", ps)
	}
	if _, err := bob.s.Decline(ctx, ps[0].ID); err != nil {
		t.Fatal(err)
	}
	ana.waitState(t, o.ID, StateRefused, "declined")
	if bob.dl.count() != 0 {
		t.Fatal("a declined offer was downloaded")
	}
	// As a contact it is accepted and fetched.
	bob.knows(ana, true)
	o, err = ana.s.Send(ctx, bob.h.ID(), []string{f})
	if err != nil || o.State != StateAccepted {
		t.Fatalf("send to a contact: %+v, %v", o, err)
	}
	if bob.dl.count() != 1 {
		t.Fatalf("fetched %d", bob.dl.count())
	}
	in, err := bob.s.Received(ctx)
	if err != nil || len(in) != 2 || in[0].From != ana.h.ID() || !in[0].Accepted || in[0].Files[0].Name != "photo.jpg" || in[1].Accepted {
		t.Fatalf("received = %+v, %v", in, err)
	}
	// nobody refuses even contacts.
	if _, err := bob.s.SetPolicy(ctx, PolicyNobody, 0); err != nil {
		t.Fatal(err)
	}
	o, _ = ana.s.Send(ctx, bob.h.ID(), []string{f})
	if o.State != StateRefused || !strings.Contains(o.Reason, "nobody") {
		t.Fatalf("send under nobody: %+v", o)
	}
	// everyone-for accepts a stranger, until it expires.
	bob.knows(ana, false)
	if _, err := bob.s.SetPolicy(ctx, PolicyEveryone, time.Second); err != nil {
		t.Fatal(err)
	}
	o, _ = ana.s.Send(ctx, bob.h.ID(), []string{f})
	if o.State != StateAccepted {
		t.Fatalf("send under everyone: %+v", o)
	}
	testutil.Eventually(t, 3*time.Second, "everyone-for to expire", func() bool { return bob.s.Policy().Mode == PolicyContacts })
	o, _ = ana.s.Send(ctx, bob.h.ID(), []string{f})
	if o.State != StatePending {
		t.Fatalf("send after everyone-for expired: %+v", o)
	}
	if _, err := bob.s.SetPolicy(ctx, PolicyEveryone, 48*time.Hour); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("everyone for 48h: %v", err)
	}
	if _, err := bob.s.SetPolicy(ctx, "friends", 0); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("unknown policy: %v", err)
	}
}

// A send to a peer that cannot be reached is queued and offered when the
// peer comes online.
func TestQueuedUntilOnline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ana, bob := newNode(t), newNode(t)
	bob.knows(ana, true)
	o, err := ana.s.Send(ctx, bob.h.ID(), []string{tempFile(t, "a.txt")})
	if err != nil || o.State != StateQueued {
		t.Fatalf("send to an unreachable peer: %+v, %v", o, err)
	}
	ana.knows(bob, true) // bob comes online
	ana.s.PeerOnline(bob.h.ID())
	testutil.Eventually(t, 10*time.Second, "the queued send to be accepted", func() bool {
		ss, _ := ana.s.Sends(ctx)
		return len(ss) == 1 && ss[0].State == StateAccepted
	})
	if bob.dl.count() != 1 {
		t.Fatalf("fetched %d", bob.dl.count())
	}
}

// A stranger flooding offers is refused before its offers are read, and
// past the rate limit is told to slow down; nothing is recorded.
func TestOfferFlood(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eve, bob := newNode(t), newNode(t)
	eve.knows(bob, false)
	if _, err := bob.s.SetPolicy(ctx, PolicyEveryone, time.Hour); err != nil {
		t.Fatal(err)
	}
	f := tempFile(t, "spam.bin")
	var accepted, limited int
	for range 20 {
		o, err := eve.s.Send(ctx, bob.h.ID(), []string{f})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case o.State == StateAccepted:
			accepted++
		case strings.Contains(o.Reason, "too many offers"):
			limited++
		}
	}
	if accepted > 6 || limited < 14 {
		t.Fatalf("accepted %d, limited %d of 20 offers in a burst", accepted, limited)
	}
	if bob.dl.count() != accepted {
		t.Fatalf("fetched %d, accepted %d", bob.dl.count(), accepted)
	}
}

func FuzzDecodeOffer(f *testing.F) {
	f.Add([]byte(`{"id":"ab","files":[{"name":"a.txt","cid":"` + testCID + `","size":5}]}`))
	f.Add([]byte(`{"id":"ab","files":[{"name":"../x","cid":"` + testCID + `","size":5}]}`))
	f.Add([]byte(`{"id":"","files":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := decodeOffer(b)
		if err != nil {
			return
		}
		if len(o.Files) == 0 || len(o.Files) > MaxFiles {
			t.Fatalf("accepted %d files", len(o.Files))
		}
		for _, f := range o.Files {
			if filepath.Base(f.Name) != f.Name || f.Name == ".." || f.Name == "." || f.Size < 0 {
				t.Fatalf("accepted file %+v", f)
			}
		}
	})
}

// An upload is saved in the outbox under its own name and sent; a name
// with a path in it is refused before anything is written.
func TestSendUpload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ana, bob := newNode(t), newNode(t)
	ana.knows(bob, true)
	bob.knows(ana, true)
	for _, bad := range []string{"../evil", "a/b", "", ".."} {
		if _, err := ana.s.SendUpload(ctx, bob.h.ID(), bad, strings.NewReader("x")); !errors.Is(err, ErrBadRequest) {
			t.Fatalf("upload named %q: %v", bad, err)
		}
	}
	o, err := ana.s.SendUpload(ctx, bob.h.ID(), "drop.txt", strings.NewReader("dropped"))
	if err != nil || o.State != StateAccepted || o.Files[0].Name != "drop.txt" {
		t.Fatalf("upload: %+v, %v", o, err)
	}
	matches, _ := filepath.Glob(filepath.Join(ana.s.cfg.Outbox, "*", "drop.txt"))
	if len(matches) != 1 {
		t.Fatalf("outbox holds %v", matches)
	}
	if b, _ := os.ReadFile(matches[0]); string(b) != "dropped" {
		t.Fatalf("outbox file %q", b)
	}
}

// A file sent from anywhere is placed in the outbox (so the node serves it
// to its recipient only) and MayFetch allows that recipient alone.
func TestSendStagesInOutbox(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ana, bob, eve := newNode(t), newNode(t), newNode(t)
	ana.knows(bob, true)
	bob.knows(ana, true)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "album", "2026"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "album", "2026", "a.jpg"), []byte("jpeg"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := ana.s.Send(ctx, bob.h.ID(), []string{filepath.Join(dir, "album")})
	if err != nil || o.State != StateAccepted {
		t.Fatalf("send: %+v, %v", o, err)
	}
	matches, _ := filepath.Glob(filepath.Join(ana.s.cfg.Outbox, "*", "album", "2026", "a.jpg"))
	if len(matches) != 1 {
		t.Fatalf("outbox holds %v", matches)
	}
	if b, _ := os.ReadFile(matches[0]); string(b) != "jpeg" {
		t.Fatalf("outbox copy %q", b)
	}
	if !ana.s.MayFetch(bob.h.ID(), testCID) || ana.s.MayFetch(eve.h.ID(), testCID) || ana.s.MayFetch(bob.h.ID(), "bafyother") {
		t.Fatal("MayFetch allows someone other than the recipient, or not the recipient")
	}
}
