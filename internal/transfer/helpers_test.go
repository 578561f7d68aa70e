package transfer

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv(kill9Env) != "" {
		os.Exit(kill9Child())
	}
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}

// memSource is an in-memory BlockSource that counts chunk requests and can
// lie about chunks.
type memSource struct {
	mu        sync.Mutex
	manifests map[cid.Cid][]byte
	chunks    map[cid.Cid][]byte
	requests  map[cid.Cid]int
	lie       func(id cid.Cid) bool // serve corrupted bytes when true
	notFound  func(id cid.Cid) bool // pretend not to have it when true
	onChunk   func(id cid.Cid)      // called on each chunk request
	served    atomic.Int64
}

func newMemSource() *memSource {
	return &memSource{
		manifests: make(map[cid.Cid][]byte),
		chunks:    make(map[cid.Cid][]byte),
		requests:  make(map[cid.Cid]int),
	}
}

func (m *memSource) Manifest(ctx context.Context, id cid.Cid) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.manifests[id]
	if !ok {
		return nil, fmt.Errorf("mem: %s: %w", id, fs.ErrNotExist)
	}
	return b, nil
}

func (m *memSource) Chunk(ctx context.Context, id cid.Cid, buf []byte) ([]byte, error) {
	m.mu.Lock()
	b, ok := m.chunks[id]
	m.requests[id]++
	lie, nf, on := m.lie, m.notFound, m.onChunk
	m.mu.Unlock()
	if on != nil {
		on(id)
	}
	if !ok || (nf != nil && nf(id)) {
		return nil, fmt.Errorf("mem: %s: %w", id, ErrNotFound)
	}
	m.served.Add(1)
	if lie != nil && lie(id) {
		bad := append(buf[:0], b...)
		bad[len(bad)/2] ^= 0xff
		return bad, nil
	}
	return b, nil
}

// set changes the source's behaviour under its lock.
func (m *memSource) set(fn func(m *memSource)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn(m)
}

func (m *memSource) requestCount(id cid.Cid) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests[id]
}

func (m *memSource) resetCounts() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.requests)
}

// addFile adds data as a file at chunkSize and returns its manifest.
func (m *memSource) addFile(data []byte, chunkSize int) *content.FileManifest {
	fm := content.HashBytes(data, chunkSize)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.manifests[fm.ID()] = fm.Encode()
	for i, id := range fm.Chunks {
		off, n := fm.ChunkRange(i)
		m.chunks[id] = data[off : off+n]
	}
	return fm
}

// tree is a test folder: file name -> content, or name -> subtree.
type tree map[string]any

// addTree adds a folder and returns its id.
func (m *memSource) addTree(t tree, chunkSize int) (cid.Cid, int64) {
	var dm content.DirManifest
	var total int64
	for name, v := range t {
		switch v := v.(type) {
		case []byte:
			fm := m.addFile(v, chunkSize)
			dm.Entries = append(dm.Entries, content.DirEntry{Name: name, ID: fm.ID(), Size: fm.Size})
			total += fm.Size
		case tree:
			id, size := m.addTree(v, chunkSize)
			dm.Entries = append(dm.Entries, content.DirEntry{Name: name, ID: id, Size: size})
			total += size
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.manifests[dm.ID()] = dm.Encode()
	return dm.ID(), total
}

// copyFrom shares everything other holds.
func (m *memSource) copyFrom(other *memSource) {
	other.mu.Lock()
	defer other.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range other.manifests {
		m.manifests[k] = v
	}
	for k, v := range other.chunks {
		m.chunks[k] = v
	}
}

// staticFinder returns a fixed (changeable) set of providers.
type staticFinder struct {
	mu    sync.Mutex
	peers []peer.AddrInfo
	calls atomic.Int64
}

func (f *staticFinder) FindProviders(ctx context.Context, id cid.Cid) ([]peer.AddrInfo, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]peer.AddrInfo(nil), f.peers...), nil
}

func (f *staticFinder) set(ais ...peer.AddrInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers = ais
}

// recordingSeeder records AddDownloaded calls, and checks that every file
// manifest passed along matches the file on disk.
type recordingSeeder struct {
	mu    sync.Mutex
	calls []string
	files int // manifests passed
	bad   []string
}

func (s *recordingSeeder) AddDownloaded(ctx context.Context, path string, id cid.Cid, manifest []byte, files map[string]*content.FileManifest) error {
	if err := content.Verify(id, manifest); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, path+" "+id.String())
	for rel, m := range files {
		data, err := os.ReadFile(filepath.Join(path, filepath.FromSlash(rel)))
		if err != nil || !content.HashBytes(data, m.ChunkSize).ID().Equals(m.ID()) {
			s.bad = append(s.bad, rel)
		}
	}
	s.files += len(files)
	return nil
}

func newHost(tb testing.TB) host.Host {
	tb.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

func addrInfo(h host.Host) peer.AddrInfo { return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()} }

// newServer starts a serving Service over src.
func newServer(tb testing.TB, src BlockSource, maxUpload int64) (*Service, host.Host) {
	tb.Helper()
	return newServerCfg(tb, Config{Source: src, MaxUpload: maxUpload})
}

// newServerCfg starts a serving Service with cfg on a new host.
func newServerCfg(tb testing.TB, cfg Config) (*Service, host.Host) {
	tb.Helper()
	h := newHost(tb)
	cfg.Host = h
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	waitHandler(tb, h)
	return s, h
}

// waitHandler waits until Serve registered its handler.
func waitHandler(tb testing.TB, h host.Host) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range h.Mux().Protocols() {
			if p == ProtocolID {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatal("handler not registered")
}

// newClient returns a Service for downloading, with finder and options.
func newClient(tb testing.TB, f ProviderFinder, mod func(*Config)) *Service {
	tb.Helper()
	cfg := Config{Host: newHost(tb), Finder: f}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func testCtx(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// assertTree checks that dir holds exactly t, and no leftovers.
func assertTree(tb testing.TB, dir string, t tree) {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if len(ents) != len(t) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		tb.Fatalf("%s holds %v, want %d entries", dir, names, len(t))
	}
	for name, v := range t {
		p := filepath.Join(dir, name)
		switch v := v.(type) {
		case []byte:
			got, err := os.ReadFile(p)
			if err != nil {
				tb.Fatal(err)
			}
			if !bytes.Equal(got, v) {
				tb.Fatalf("%s differs (%d bytes, want %d)", p, len(got), len(v))
			}
		case tree:
			assertTree(tb, p, v)
		}
	}
}
