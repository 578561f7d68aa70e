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

func swarmKey(t *testing.T) []byte {
	t.Helper()
	k, err := NewSwarmKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mustNotConnect asserts that from cannot connect to to, and that no
// connection between them remains on either side shortly after.
func mustNotConnect(t *testing.T, from, to *Node) {
	t.Helper()
	// A mismatched pnet handshake can stall rather than fail (each side
	// reads the other's bytes as garbage), so bound it tightly.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := from.Connect(ctx, to.Addrs()[0]); err == nil {
		t.Errorf("%s -> %s: Connect succeeded, want error", from.ID(), to.ID())
	}
	time.Sleep(200 * time.Millisecond)
	if c := from.Host().Network().Connectedness(to.ID()); c == network.Connected {
		t.Errorf("dialer still connected after refused Connect")
	}
	if c := to.Host().Network().Connectedness(from.ID()); c == network.Connected {
		t.Errorf("listener still connected after refused Connect")
	}
}

func mustConnect(t *testing.T, from, to *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := from.Connect(ctx, to.Addrs()[0]); err != nil {
		t.Fatalf("%s -> %s: %v", from.ID(), to.ID(), err)
	}
	testutil.Eventually(t, 5*time.Second, "both sides connected", func() bool {
		return to.Host().Network().Connectedness(from.ID()) == network.Connected
	})
}

func TestPrivateNetworkIsolation(t *testing.T) {
	k1, k2 := swarmKey(t), swarmKey(t)
	pub := testNode(t, nil)
	a1 := testNode(t, func(c *Config) { c.SwarmKey = k1 })
	b1 := testNode(t, func(c *Config) { c.SwarmKey = k1 })
	c2 := testNode(t, func(c *Config) { c.SwarmKey = k2 })

	t.Run("private to public", func(t *testing.T) { mustNotConnect(t, a1, pub) })
	t.Run("public to private", func(t *testing.T) { mustNotConnect(t, pub, a1) })
	t.Run("different keys", func(t *testing.T) {
		mustNotConnect(t, a1, c2)
		mustNotConnect(t, c2, b1)
	})
	t.Run("same key", func(t *testing.T) { mustConnect(t, a1, b1) })
}

func TestPrivateNetworkDropsQUIC(t *testing.T) {
	n := testNode(t, func(c *Config) {
		c.SwarmKey = swarmKey(t)
		c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	})
	for _, a := range n.Addrs() {
		if strings.Contains(a, "/udp/") {
			t.Errorf("private node listens on %s", a)
		}
	}
	_, err := New(context.Background(), Config{
		Identity:    newKey(t),
		SwarmKey:    swarmKey(t),
		ListenAddrs: []string{"/ip4/127.0.0.1/udp/0/quic-v1"},
	})
	if err == nil || !strings.Contains(err.Error(), "TCP") {
		t.Errorf("QUIC-only private node: err = %v, want error about TCP", err)
	}
	_, err = New(context.Background(), Config{
		Identity: newKey(t), SwarmKey: []byte("not a key"),
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
	})
	if err == nil || !strings.Contains(err.Error(), "swarm key") {
		t.Errorf("bad swarm key: err = %v", err)
	}
}

func TestAllowPeersGater(t *testing.T) {
	friend := testNode(t, nil)
	friend2 := testNode(t, nil)
	stranger := testNode(t, nil)
	guarded := testNode(t, func(c *Config) { c.AllowPeers = []peer.ID{friend.ID(), friend2.ID()} })

	t.Run("outbound to stranger refused", func(t *testing.T) { mustNotConnect(t, guarded, stranger) })
	t.Run("inbound from stranger refused", func(t *testing.T) { mustNotConnect(t, stranger, guarded) })
	t.Run("outbound to friend", func(t *testing.T) { mustConnect(t, guarded, friend) })
	t.Run("inbound from friend", func(t *testing.T) { mustConnect(t, friend2, guarded) })
	t.Run("empty list refuses all", func(t *testing.T) {
		closed := testNode(t, func(c *Config) { c.AllowPeers = []peer.ID{} })
		mustNotConnect(t, friend, closed)
	})
}
