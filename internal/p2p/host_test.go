package p2p

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	ma "github.com/multiformats/go-multiaddr"
)

// TestHostServices checks that a node's host, built without go-libp2p's
// root package, runs the services the root package's options enabled:
// identify, ping, the AutoNAT v1 service and v2, the relay client, and a
// /p2p-circuit listen address.
func TestHostServices(t *testing.T) {
	n := testNode(t, nil)
	protos := n.Host().Mux().Protocols()
	for _, want := range []protocol.ID{
		"/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0",
		"/libp2p/autonat/1.0.0", "/libp2p/autonat/2/dial-request", "/libp2p/autonat/2/dial-back",
		"/libp2p/circuit/relay/0.2.0/stop",
		"/peerpath/kad/1.0.0", "/meshsub/1.2.0",
	} {
		if !slices.Contains(protos, want) {
			t.Errorf("host does not serve %s (serves %v)", want, protos)
		}
	}
	circuit := false
	for _, a := range n.Host().Network().ListenAddresses() {
		circuit = circuit || a.String() == "/p2p-circuit"
	}
	if !circuit {
		t.Errorf("no /p2p-circuit listen address: %v", n.Host().Network().ListenAddresses())
	}
}

// TestLoopbackHost checks the bare hosts of in-process clusters: they
// listen on 127.0.0.1 only, connect over TLS and yamux, keep a given
// identity, and run no relay client.
func TestLoopbackHost(t *testing.T) {
	key := newKey(t)
	a, err := NewLoopbackHost(key)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewLoopbackHost(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if want, _ := peer.IDFromPrivateKey(key); a.ID() != want {
		t.Fatalf("host ID %s, want %s from the key", a.ID(), want)
	}
	for _, addr := range a.Addrs() {
		if !strings.HasPrefix(addr.String(), "/ip4/127.0.0.1/tcp/") {
			t.Errorf("loopback host listens on %s", addr)
		}
	}
	if slices.Contains(a.Mux().Protocols(), "/libp2p/circuit/relay/0.2.0/stop") {
		t.Error("loopback host runs the relay client")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.Addrs()}); err != nil {
		t.Fatal(err)
	}
	conns := b.Network().ConnsToPeer(a.ID())
	if len(conns) == 0 {
		t.Fatal("no connection after Connect")
	}
	if st := conns[0].ConnState(); st.Security != libp2ptls.ID || st.StreamMultiplexer != yamux.ID {
		t.Errorf("connection uses %s + %s, want %s + %s", st.Security, st.StreamMultiplexer, libp2ptls.ID, yamux.ID)
	}
}

// TestDaemonLinksNoBrowserTransports checks that the daemon does not import
// go-libp2p's root package, its config package, or the WebSocket,
// WebTransport and WebRTC transports: importing the root package links
// them, which adds 5.8 MB to the binary and 2.1-2.4 MB to an idle daemon's
// resident memory, and the config package links WebRTC (pion) and fx
// (docs/performance.md, "Idle memory").
func TestDaemonLinksNoBrowserTransports(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.CommandContext(ctx, goBin, "list", "-deps", "../../cmd/peerpath").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list gave %d packages", len(deps))
	}
	for _, banned := range []string{
		"github.com/libp2p/go-libp2p",
		"github.com/libp2p/go-libp2p/p2p/transport/websocket",
		"github.com/libp2p/go-libp2p/p2p/transport/webtransport",
		"github.com/quic-go/webtransport-go",
		"github.com/gorilla/websocket",
		"github.com/libp2p/go-libp2p/config",
		"github.com/libp2p/go-libp2p/p2p/transport/webrtc",
		"github.com/pion/webrtc/v4",
		"go.uber.org/fx",
		"go.uber.org/dig",
	} {
		if slices.Contains(deps, banned) {
			t.Errorf("the daemon imports %s", banned)
		}
	}
}

// closeRecorder wraps a resource or connection manager and records Close.
type closeRecorder struct {
	network.ResourceManager
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return c.ResourceManager.Close() }

type connMgrRecorder struct {
	connmgr.ConnManager
	closed bool
}

func (c *connMgrRecorder) Close() error { c.closed = true; return c.ConnManager.Close() }

// TestBuildHostFailureClosesManagers checks that a host whose construction
// fails halfway (here: it is to listen on a WebSocket address, which no
// transport of ours serves, after its AutoNAT dialers, basic host and
// AutoRelay are made) closes what it was
// given and what it made (goleak, in TestMain, checks the goroutines of
// the swarm, peerstore, QUIC sockets and AutoNAT dialers).
func TestBuildHostFailureClosesManagers(t *testing.T) {
	ws := ma.StringCast("/ip4/127.0.0.1/tcp/0/ws")
	inner, err := newResourceManager(false)
	if err != nil {
		t.Fatal(err)
	}
	rm := &closeRecorder{ResourceManager: inner}
	cm := &connMgrRecorder{ConnManager: &connmgr.NullConnMgr{}}
	h, err := buildHost(&hostSpec{
		key: newKey(t), quic: true, listen: []ma.Multiaddr{ws},
		connMgr: cm, rm: rm,
		autoNATv1: true, autoNATService: true, autoNATv2: true,
		relayClient: true, autoRelay: true,
		autoRelayOpts: []autorelay.Option{autorelay.WithPeerSource(func(ctx context.Context, num int) <-chan peer.AddrInfo {
			return relayCandidates(ctx, nil, num)
		})},
	})
	if err == nil {
		h.Close()
		t.Fatalf("a host listening on %s was built", ws)
	}
	if !rm.closed || !cm.closed {
		t.Errorf("after a failed build: resource manager closed %v, connection manager closed %v", rm.closed, cm.closed)
	}
}
