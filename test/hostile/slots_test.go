//go:build linux

package hostile

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/test/harness"
)

// idleProtocols are the daemon's protocols a stranger may open streams on.
var idleProtocols = []protocol.ID{
	blockProtocol,
	"/peerpath/search/1.0.0",
	"/peerpath/compute/2.0.0",
	"/peerpath/ledger/client/1.0.0",
	"/peerpath/receipt/1.0.0",
	"/peerpath/storage/1.0.0",
	"/peerpath/storage/fetch/1.0.0",
	"/peerpath/publish/1.0.0",
}

// shareFile shares n random bytes on d and returns the content id.
func shareFile(t *testing.T, d *harness.Daemon, n int) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "f.bin")
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out struct {
		CID string `json:"cid"`
	}
	harness.CLIJSON(t, &out, "share", src, "--home", d.Home)
	return out.CID
}

// openIdle opens n streams of proto from h to p and sends nothing on them.
// It returns the streams that opened.
func openIdle(ctx context.Context, t *testing.T, h host.Host, p peer.ID, proto protocol.ID, n int) []network.Stream {
	t.Helper()
	var out []network.Stream
	for range n {
		st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "attack"), p, proto)
		if err != nil {
			break // refused: a limit held
		}
		// Negotiate the protocol (libp2p does so lazily, on the first
		// write), so the daemon runs its handler, and then send nothing.
		if _, err := st.Write(nil); err != nil {
			st.Reset()
			break
		}
		out = append(out, st)
	}
	return out
}

// Stream-slot exhaustion: throwaway identities hold idle streams on the
// daemon's protocols (four identities with 16 each, as in the report; one
// identity with hundreds on one connection; many identities from one
// address), and an honest daemon downloads from it while they do. On the
// old code the 64 idle streams took every serving slot for a minute and the
// honest get failed with "none of 0 peers delivered it".
func TestSlotExhaustionIdleStreams(t *testing.T) {
	a := harness.Start(t)
	aID := mustID(t, a)
	cid := shareFile(t, a, 3<<20+17)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var held []network.Stream
	// Four throwaway identities, 16 idle streams each on every protocol.
	for range 4 {
		h, _ := newPeer(t, a)
		for _, proto := range idleProtocols {
			held = append(held, openIdle(ctx, t, h, aID, proto, 16)...)
		}
	}
	// Many streams on one connection.
	h, _ := newPeer(t, a)
	held = append(held, openIdle(ctx, t, h, aID, blockProtocol, 300)...)
	// Many connections (identities) from one address.
	for range 12 {
		h, _ := newPeer(t, a)
		held = append(held, openIdle(ctx, t, h, aID, blockProtocol, 8)...)
	}
	t.Logf("attackers hold %d idle streams", len(held))

	// An honest daemon downloads from a while the streams are open.
	b := harness.Start(t, "--bootstrap", a.Addr())
	out := filepath.Join(t.TempDir(), "got.bin")
	if o, e, code := harness.CLI(t, "get", cid, "-o", out, "--home", b.Home, "--timeout", "20s"); code != 0 {
		t.Fatalf("honest get during the attack: code %d\nstdout %s\nstderr %s", code, o, e)
	}

	// Every idle stream is closed by the daemon within a few seconds.
	deadline := time.Now().Add(15 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	stillOpen := make(map[protocol.ID]int)
	for _, st := range held {
		wg.Go(func() {
			st.SetReadDeadline(deadline)
			_, err := st.Read(make([]byte, 64))
			if errors.Is(err, os.ErrDeadlineExceeded) || (err != nil && strings.Contains(err.Error(), "deadline")) {
				mu.Lock()
				open++
				stillOpen[st.Protocol()]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if open > 0 {
		t.Fatalf("%d of %d idle streams still open after 15 s: %v", open, len(held), stillOpen)
	}
}

// A provider that is truly busy is reported as busy, not as "0 peers": a
// hostile provider answers every block request busy, and the downloader's
// error names it.
func TestBusyProviderReportedBusy(t *testing.T) {
	a := harness.Start(t)
	cid := shareFile(t, a, 1000)
	b := harness.Start(t) // not connected to a: the busy peer is its only provider
	h, _ := newPeer(t, b)
	h.SetStreamHandler(blockProtocol, func(st network.Stream) {
		defer st.Close()
		st.SetDeadline(time.Now().Add(5 * time.Second))
		var req [64]byte
		st.Read(req[:])
		msg := "too many streams"
		st.Write(append([]byte{3, 0, 0, 0, byte(len(msg))}, msg...)) // statusBusy
		io.Copy(io.Discard, st)
	})
	_, errOut, code := harness.CLI(t, "get", cid, "-o", filepath.Join(t.TempDir(), "x"), "--home", b.Home, "--timeout", "3s")
	if code == 0 {
		t.Fatal("get succeeded from a provider that is always busy")
	}
	if !strings.Contains(errOut, "busy") || strings.Contains(errOut, "0 peers") {
		t.Fatalf("a busy provider is not reported as busy: %q", errOut)
	}
}

// lanIP returns a non-loopback IPv4 address of this machine, or skips.
func lanIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address to attack from")
	return ""
}

// Requests in service are bounded per address: throwaway identities from
// one (non-loopback) address ask for chunks and never read the answers,
// each holding a serving slot for as long as the daemon lets a write stall.
// They get no more than their address's share (the rest are answered
// busy), and an honest daemon on another address downloads meanwhile. On
// the old code 64 such requests (four identities' worth) took every slot.
func TestSlotExhaustionSlowReaders(t *testing.T) {
	ip := lanIP(t)
	a := harness.Start(t, "--listen", "/ip4/"+ip+"/tcp/0", "--no-port-map")
	aID := mustID(t, a)
	var lanAddr, loAddr string
	for _, s := range a.ID().Addrs {
		switch {
		case strings.HasPrefix(s, "/ip4/"+ip+"/tcp/"):
			lanAddr = s
		case strings.HasPrefix(s, "/ip4/127.0.0.1/tcp/"):
			loAddr = s
		}
	}
	if lanAddr == "" || loAddr == "" {
		t.Fatalf("daemon addresses %v", a.ID().Addrs)
	}
	id, err := cid.Decode(shareFile(t, a, 8<<20))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Throwaway identities on the LAN address.
	lanPeer := func() host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/" + ip + "/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		ai, err := peer.AddrInfoFromString(lanAddr)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Connect(ctx, *ai); err != nil {
			t.Fatal(err)
		}
		return h
	}
	status, raw, err := fetchBlock(ctx, lanPeer(), aID, 1, id)
	if err != nil || status != 0 {
		t.Fatalf("manifest: status %d, %v", status, err)
	}
	m, err := content.Decode(id, raw)
	if err != nil {
		t.Fatal(err)
	}
	fm := m.(*content.FileManifest)

	served, busy := 0, 0
	for range 6 {
		h := lanPeer()
		for j := range 16 {
			st, err := h.NewStream(ctx, aID, blockProtocol)
			if err != nil {
				busy++
				continue
			}
			raw := fm.Chunks[j%len(fm.Chunks)].Bytes()
			st.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := st.Write(append([]byte{2, byte(len(raw))}, raw...)); err != nil {
				busy++
				continue
			}
			// Read the header only: an OK answer's chunk then stalls in
			// the window, holding its slot.
			var hdr [5]byte
			if _, err := io.ReadFull(st, hdr[:]); err != nil || hdr[0] != 0 {
				busy++
				continue
			}
			served++
		}
	}
	t.Logf("from one address: %d requests in service, %d refused", served, busy)
	if served > 32 {
		t.Errorf("one address holds %d requests in service, more than half the node's 64", served)
	}

	// An honest daemon on loopback downloads meanwhile.
	b := harness.Start(t, "--bootstrap", loAddr)
	out := filepath.Join(t.TempDir(), "got.bin")
	if o, e, code := harness.CLI(t, "get", id.String(), "-o", out, "--home", b.Home, "--timeout", "30s"); code != 0 {
		t.Fatalf("honest get while slow readers hold their slots: code %d\nstdout %s\nstderr %s", code, o, e)
	}
}
