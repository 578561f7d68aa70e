package transfer

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/peerpath/peerpath/internal/testutil"
)

// idleStreams opens n block streams from a fresh host to h, negotiates the
// protocol (libp2p does it on the first write) and sends no request.
func idleStreams(t *testing.T, h host.Host, n int) []network.Stream {
	t.Helper()
	c := newHost(t)
	ctx := testCtx(t, 10*time.Second)
	if err := c.Connect(ctx, addrInfo(h)); err != nil {
		t.Fatal(err)
	}
	var out []network.Stream
	for range n {
		st, err := c.NewStream(ctx, h.ID(), ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Reset() })
		if _, err := st.Write(nil); err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	return out
}

// A stream that sends no request within firstRequestTimeout is closed.
func TestServerClosesIdleStream(t *testing.T) {
	old := firstRequestTimeout
	firstRequestTimeout = 200 * time.Millisecond
	t.Cleanup(func() { firstRequestTimeout = old })
	_, h := newServer(t, newMemSource(), 0)
	st := idleStreams(t, h, 1)[0]
	st.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err := st.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle stream after %v: %v, want closed by the server", time.Since(start), err)
	}
}

// Idle streams take no service slot: peers holding as many idle streams as
// they may (more than MaxServing in all) keep no one from downloading.
func TestIdleStreamsDoNotBlockService(t *testing.T) {
	src := newMemSource()
	data := testutil.RandBytes(3*testChunk + 1)
	fm := src.addFile(data, testChunk)
	_, h := newServer(t, src, 0)
	held := 0
	for held <= MaxServing {
		held += len(idleStreams(t, h, MaxServingPerPeer+1))
	}
	f := &staticFinder{}
	f.set(addrInfo(h))
	c := newClient(t, f, nil)
	out := filepath.Join(t.TempDir(), "f")
	if _, err := c.Get(testCtx(t, 20*time.Second), fm.ID(), GetOptions{Output: out, Timeout: 3 * time.Second}); err != nil {
		t.Fatalf("get beside %d idle streams: %v", held, err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
}

// Requests in service are bounded per peer and in all, and a peer beyond
// its bound is answered busy while other peers are still served.
func TestServerBoundsRequestsInService(t *testing.T) {
	src := newMemSource()
	fm := src.addFile(testutil.RandBytes(testChunk), testChunk)
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	var inService sync.WaitGroup
	src.set(func(m *memSource) {
		m.onChunk = func(cid.Cid) { inService.Done(); <-release }
	})
	s, h := newServer(t, src, 0)

	// One peer puts MaxServingPerPeer requests in service; the next is
	// answered busy.
	streams := idleStreams(t, h, MaxServingPerPeer+1)
	inService.Add(MaxServingPerPeer)
	req := appendRequest(nil, opChunk, fm.Chunks[0])
	for _, st := range streams[:MaxServingPerPeer] {
		if _, err := st.Write(req); err != nil {
			t.Fatal(err)
		}
	}
	inService.Wait()
	last := streams[MaxServingPerPeer]
	last.SetDeadline(time.Now().Add(10 * time.Second))
	last.Write(req)
	_, err := readResponseHeader(last, 0, MaxChunkSize)
	var re *RemoteError
	if !errors.As(err, &re) || !re.Busy() || !strings.Contains(re.Message, "requests in service") {
		t.Fatalf("request beyond the peer's bound: %v, want busy", err)
	}
	if n := s.inServe.HeldBy(last.Conn().LocalPeer()); n != MaxServingPerPeer {
		t.Fatalf("peer holds %d service slots, want %d", n, MaxServingPerPeer)
	}

	// Other peers fill the rest; beyond MaxServing everyone is busy.
	for s.inServe.Held() < MaxServing {
		n := min(MaxServingPerPeer, MaxServing-s.inServe.Held())
		inService.Add(n)
		for _, st := range idleStreams(t, h, n) {
			if _, err := st.Write(req); err != nil {
				t.Fatal(err)
			}
		}
		inService.Wait()
	}
	st := idleStreams(t, h, 1)[0]
	st.SetDeadline(time.Now().Add(10 * time.Second))
	st.Write(req)
	if _, err := readResponseHeader(st, 0, MaxChunkSize); !errors.As(err, &re) || !re.Busy() {
		t.Fatalf("request beyond MaxServing: %v, want busy", err)
	}

	// Once the requests are answered, their slots are free again.
	unblock()
	for _, st := range streams[:MaxServingPerPeer] {
		st.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := readResponseHeader(st, testChunk, testChunk); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(st, make([]byte, testChunk)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.inServe.Held() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d service slots still held after every answer", s.inServe.Held())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A provider that answers busy is reported as busy, with its message and
// the number of peers tried, not as "0 peers": whether it refuses the
// manifest or, having sent it, the chunks.
func TestGetReportsBusyProvider(t *testing.T) {
	fm := newMemSource().addFile(testutil.RandBytes(3*testChunk), testChunk)
	manifest := fm.Encode()
	for _, what := range []string{"manifest", "chunks"} {
		t.Run(what, func(t *testing.T) {
			busy := hostileServer(t, func(st network.Stream, req request) {
				if req.op == opManifest && what == "chunks" {
					respond(st, statusOK, len(manifest), manifest)
					return
				}
				writeMessage(st, statusBusy, "too many requests in service")
			})
			f := &staticFinder{}
			f.set(addrInfo(busy))
			c := newClient(t, f, nil)
			_, err := c.Get(testCtx(t, 20*time.Second), fm.ID(), GetOptions{Output: filepath.Join(t.TempDir(), "f"), Timeout: 500 * time.Millisecond})
			if !errors.Is(err, ErrBusy) || !errors.Is(err, ErrNoProviders) {
				t.Fatalf("got %v, want ErrBusy", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "1 of 1 peers tried answered busy") || !strings.Contains(msg, "too many requests in service") {
				t.Fatalf("message %q", msg)
			}
		})
	}

	// With no provider at all, nobody is called busy.
	c := newClient(t, &staticFinder{}, nil)
	_, err := c.Get(testCtx(t, 20*time.Second), fm.ID(), GetOptions{Output: filepath.Join(t.TempDir(), "f"), Timeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrNoProviders) || errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "0 peers tried") {
		t.Fatalf("no provider: %v", err)
	}
}
