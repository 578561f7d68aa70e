package search

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/store"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// memRoutingShared is an in-process provider index shared by the test peers.
type memRoutingShared struct {
	mu    sync.Mutex
	provs map[string][]peer.AddrInfo
}

type peerRouting struct {
	sh   *memRoutingShared
	self peer.AddrInfo
}

func (r peerRouting) Provide(_ context.Context, key cid.Cid, _ bool) error {
	r.sh.mu.Lock()
	defer r.sh.mu.Unlock()
	for _, p := range r.sh.provs[key.KeyString()] {
		if p.ID == r.self.ID {
			return nil
		}
	}
	r.sh.provs[key.KeyString()] = append(r.sh.provs[key.KeyString()], r.self)
	return nil
}

func (r peerRouting) FindProvidersAsync(ctx context.Context, key cid.Cid, count int) <-chan peer.AddrInfo {
	r.sh.mu.Lock()
	list := append([]peer.AddrInfo(nil), r.sh.provs[key.KeyString()]...)
	r.sh.mu.Unlock()
	ch := make(chan peer.AddrInfo, len(list))
	for i, p := range list {
		if count > 0 && i >= count {
			break
		}
		ch <- p
	}
	close(ch)
	return ch
}

type memCatalog struct {
	mu    sync.Mutex
	files []share.FileEntry
}

func (c *memCatalog) Files(context.Context) ([]share.FileEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]share.FileEntry(nil), c.files...), nil
}

func (c *memCatalog) add(f share.FileEntry) {
	c.mu.Lock()
	c.files = append(c.files, f)
	c.mu.Unlock()
}

// fileCID returns a real file id for a file of size bytes, and its manifest.
func fileCID(t testing.TB, seed string, size int64) (string, []byte) {
	t.Helper()
	m := &content.FileManifest{Size: size, ChunkSize: content.DefaultChunkSize}
	for j := range content.NumChunks(size, m.ChunkSize) {
		m.Chunks = append(m.Chunks, content.ChunkID([]byte(seed+string(rune(j)))))
	}
	return m.ID().String(), m.Encode()
}

func testEntry(t testing.TB, name string, size int64) share.FileEntry {
	id, _ := fileCID(t, name, size)
	return share.FileEntry{CID: id, Name: name, RelPath: name, Size: size, Share: "/nonexistent/music", ShareCID: "s"}
}

type testPeer struct {
	h   host.Host
	db  *store.DB
	cat *memCatalog
	svc *Service
}

type testNet struct {
	mn    mocknet.Mocknet
	peers []*testPeer
	sh    *memRoutingShared
}

// newTestNet starts n connected mocknet peers, each with a Service serving
// (announcing keywords to a shared in-memory provider index).
func newTestNet(t *testing.T, n int, tweak func(i int, c *Config)) *testNet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNet{mn: mocknet.New(), sh: &memRoutingShared{provs: map[string][]peer.AddrInfo{}}}
	for range n {
		h, err := tn.mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		tn.peers = append(tn.peers, &testPeer{h: h})
	}
	if err := tn.mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, p := range tn.peers {
		db, err := store.Open(filepath.Join(t.TempDir(), "db"))
		if err != nil {
			t.Fatal(err)
		}
		p.db = db
		p.cat = &memCatalog{}
		cfg := Config{Host: p.h, DB: db, Catalog: p.cat, Logger: quietLogger(),
			Routing:      peerRouting{sh: tn.sh, self: peer.AddrInfo{ID: p.h.ID(), Addrs: p.h.Addrs()}},
			SyncInterval: 50 * time.Millisecond, AnnounceRate: 1000}
		if tweak != nil {
			tweak(i, &cfg)
		}
		svc, err := New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		p.svc = svc
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = svc.Serve(ctx)
		}()
	}
	for _, a := range tn.peers {
		for _, b := range tn.peers {
			if a != b {
				a.h.Peerstore().AddAddrs(b.h.ID(), b.h.Addrs(), time.Hour)
			}
		}
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, p := range tn.peers {
			p.db.Close()
		}
		tn.mn.Close()
	})
	return tn
}

// waitIndexed waits until p's local index answers q.
func waitIndexed(t *testing.T, p *testPeer, q string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		got := 0
		_ = p.svc.Search(context.Background(), q, Options{LocalOnly: true}, func(Result) { got++ })
		if got > 0 && p.svc.Announced() > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%q never indexed", q)
}

func collect(t *testing.T, s *Service, q string, opt Options) (map[string]Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	got := map[string]Result{}
	err := s.Search(ctx, q, opt, func(r Result) {
		mu.Lock()
		got[r.CID] = r
		mu.Unlock()
	})
	return got, err
}
