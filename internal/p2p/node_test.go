package p2p

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/testutil"
)

func TestThreeNodesDiscoverViaDHT(t *testing.T) {
	a := testNode(t, nil)
	boot := a.Addrs()
	if len(boot) == 0 {
		t.Fatal("A has no addresses")
	}
	for _, s := range boot {
		if strings.Contains(s, "/0.0.0.0/") || !strings.HasSuffix(s, "/p2p/"+a.ID().String()) {
			t.Fatalf("bad address %q", s)
		}
	}
	b := testNode(t, func(c *Config) { c.Bootstrap = boot })
	c := testNode(t, func(c *Config) { c.Bootstrap = boot })
	serve(t, a)
	serve(t, b)
	serve(t, c)

	testutil.Eventually(t, 15*time.Second, "B connected to C", func() bool {
		return b.Host().Network().Connectedness(c.ID()) == network.Connected
	})
	// If C dialled B, B learns C's listen addresses through identify.
	testutil.Eventually(t, 5*time.Second, "C's addresses in B's peerstore", func() bool {
		return len(b.Host().Peerstore().Addrs(c.ID())) > 0
	})
	testutil.Eventually(t, 10*time.Second, "B's routing table holds A and C", func() bool {
		return b.Status().RoutingTable >= 2
	})
	// The bandwidth meters are folded in by a sweeper once a second.
	testutil.Eventually(t, 5*time.Second, "B's traffic counted", func() bool {
		st := b.Status()
		return st.BytesIn > 0 && st.BytesOut > 0
	})
	st := b.Status()
	if st.Peers < 2 {
		t.Errorf("B status = %+v, want >=2 peers", st)
	}
	if st.Reachability != "unknown" && st.Reachability != "private" && st.Reachability != "public" {
		t.Errorf("reachability %q", st.Reachability)
	}
	// Serve pings each peer as it connects.
	testutil.Eventually(t, 5*time.Second, "latency to C measured", func() bool {
		for _, p := range b.Peers() {
			if p.ID == c.ID().String() {
				return p.LatencyMS > 0
			}
		}
		return false
	})
	var sawC bool
	for _, p := range b.Peers() {
		if p.ID == c.ID().String() {
			sawC = true
			if !p.LAN || len(p.Addrs) == 0 {
				t.Errorf("peer C = %+v, want LAN (loopback) with addrs", p)
			}
		}
	}
	if !sawC {
		t.Errorf("B.Peers() lacks C: %+v", b.Peers())
	}
}

func TestConnectErrors(t *testing.T) {
	a := testNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct{ addr, want string }{
		{"not a multiaddr", "address"},
		{"/ip4/127.0.0.1/tcp/1", "/p2p/"},
		{a.Addrs()[0], "itself"},
	} {
		err := a.Connect(ctx, tc.addr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Connect(%q) = %v, want error containing %q", tc.addr, err, tc.want)
		}
	}
	// Nobody listens on port 1.
	other := newKey(t)
	id, _ := peer.IDFromPrivateKey(other)
	if err := a.Connect(ctx, "/ip4/127.0.0.1/tcp/1/p2p/"+id.String()); err == nil {
		t.Error("Connect to a closed port succeeded")
	}
}
