package msg

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
)

// idsOnly resolves peer IDs only and knows the contacts it is given.
type idsOnly struct {
	mu       sync.Mutex
	contacts map[peer.ID]bool
}

func (p *idsOnly) Resolve(_ context.Context, s string) (peer.ID, error) { return peer.Decode(s) }
func (p *idsOnly) IsContact(id peer.ID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.contacts[id]
}

// tnode is a service on a loopback host with its own database; it can be
// stopped and started again with the same key and database.
type tnode struct {
	t      testing.TB
	key    lcrypto.PrivKey
	dir    string
	peers  *idsOnly
	h      host.Host
	db     *store.DB
	svc    *Service
	cancel context.CancelFunc
	done   chan struct{}
	mod    func(*Config)
}

func newTNode(t testing.TB, mod func(*Config)) *tnode {
	k, _, err := lcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n := &tnode{t: t, key: k, dir: t.TempDir(), peers: &idsOnly{contacts: map[peer.ID]bool{}}, mod: mod}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *tnode) id() peer.ID { pid, _ := peer.IDFromPrivateKey(n.key); return pid }

func (n *tnode) start() {
	t := n.t
	h, err := p2p.NewLoopbackHost(n.key)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(n.dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Host: h, DB: db, Key: n.key, Peers: n.peers, DirectTimeout: 2 * time.Second, CollectEvery: 500 * time.Millisecond}
	if n.mod != nil {
		n.mod(&cfg)
	}
	svc, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.h, n.db, n.svc, n.cancel, n.done = h, db, svc, cancel, make(chan struct{})
	go func() { defer close(n.done); svc.Serve(ctx) }()
}

func (n *tnode) stop() {
	if n.svc == nil {
		return
	}
	n.cancel()
	<-n.done
	n.h.Close()
	n.db.Close()
	n.svc = nil
}

func connect(t *testing.T, a, b *tnode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.h.Connect(ctx, peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func (n *tnode) list(with string) []Message {
	n.t.Helper()
	ms, err := n.svc.List(context.Background(), ListOptions{With: with})
	if err != nil {
		n.t.Fatal(err)
	}
	return ms
}

func (n *tnode) stateOf(with, id string) (string, error) {
	for _, m := range n.list(with) {
		if m.ID == id {
			return m.State, nil
		}
	}
	return "", fmt.Errorf("no message %s", id)
}
