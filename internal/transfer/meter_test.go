package transfer

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/testutil"
)

// countMeter records Sent and Received bytes per peer.
type countMeter struct {
	mu   sync.Mutex
	sent map[peer.ID]int
	recv map[peer.ID]int
}

func newCountMeter() *countMeter {
	return &countMeter{sent: map[peer.ID]int{}, recv: map[peer.ID]int{}}
}

func (m *countMeter) Sent(p peer.ID, n int) {
	m.mu.Lock()
	m.sent[p] += n
	m.mu.Unlock()
}

func (m *countMeter) Received(p peer.ID, n int) {
	m.mu.Lock()
	m.recv[p] += n
	m.mu.Unlock()
}

func (m *countMeter) get(p peer.ID) (sent, recv int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent[p], m.recv[p]
}

// The meter sees every chunk byte served and every verified chunk byte
// received, attributed to the right peer.
func TestMeterCountsTraffic(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	data := testutil.RandBytes(3<<20 + 12345)
	src := newMemSource()
	fm := src.addFile(data, testChunk)
	sm := newCountMeter()
	_, h := newServerCfg(t, Config{Source: src, Meter: sm})
	f := &staticFinder{}
	f.set(addrInfo(h))
	cm := newCountMeter()
	c := newClient(t, f, func(c *Config) { c.Meter = cm })
	if _, err := c.Get(ctx, fm.ID(), GetOptions{Output: filepath.Join(t.TempDir(), "f")}); err != nil {
		t.Fatal(err)
	}
	// End-game duplicates may add whole chunks, never fewer bytes.
	sent, _ := sm.get(c.cfg.Host.ID())
	_, recv := cm.get(h.ID())
	if sent < len(data) {
		t.Errorf("server metered %d bytes sent, file is %d", sent, len(data))
	}
	if recv < len(data) || recv > sent {
		t.Errorf("client metered %d verified bytes received, server sent %d, file is %d", recv, sent, len(data))
	}
	if s2, r2 := cm.get(c.cfg.Host.ID()); s2 != 0 || r2 != 0 {
		t.Errorf("client metered traffic with itself: %d %d", s2, r2)
	}
}

// When upload is scarce, a peer of a higher priority class is served first:
// it finishes in about half the time of the shared case, well before the
// other peer, which still completes.
func TestUploadPriority(t *testing.T) {
	const limit = 2 << 20
	ctx := testCtx(t, 60*time.Second)
	data := testutil.RandBytes(2 << 20)
	src := newMemSource()
	fm := src.addFile(data, testChunk)
	f := &staticFinder{}
	hi := newClient(t, f, nil)
	lo := newClient(t, f, nil)
	hiID := hi.cfg.Host.ID()
	_, h := newServerCfg(t, Config{Source: src, MaxUpload: limit, Priority: func(p peer.ID) int {
		if p == hiID {
			return 2
		}
		return 0
	}})
	f.set(addrInfo(h))
	type done struct {
		who string
		err error
		at  time.Duration
	}
	dones := make(chan done, 2)
	start := time.Now()
	for name, c := range map[string]*Service{"hi": hi, "lo": lo} {
		go func() {
			_, err := c.Get(ctx, fm.ID(), GetOptions{Output: filepath.Join(t.TempDir(), name)})
			dones <- done{name, err, time.Since(start)}
		}()
	}
	at := map[string]time.Duration{}
	for range 2 {
		d := <-dones
		if d.err != nil {
			t.Fatalf("%s: %v", d.who, d.err)
		}
		at[d.who] = d.at
	}
	t.Logf("high priority done after %v, low after %v", at["hi"], at["lo"])
	if at["hi"] > at["lo"]*7/10 {
		t.Fatalf("high-priority peer was not served first: done after %v, the other after %v", at["hi"], at["lo"])
	}
}
