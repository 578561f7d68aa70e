package p2p

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peerpath/peerpath/internal/testutil"
)

// A node behind NAT reserves a slot on a publicly reachable peer's relay,
// and a third peer that knows only the relayed address reaches it there.
func TestReachableThroughRelay(t *testing.T) {
	relay := testNode(t, func(c *Config) { c.Reachability = network.ReachabilityPublic })
	serve(t, relay)
	testutil.Eventually(t, 10*time.Second, "the relay to offer the hop protocol", func() bool {
		return slices.Contains(relay.Host().Mux().Protocols(), circuit.ProtoIDv2Hop)
	})
	natted := testNode(t, func(c *Config) {
		c.Reachability = network.ReachabilityPrivate
		c.Bootstrap = relay.Addrs()
		c.relayBootDelay = 100 * time.Millisecond
	})
	serve(t, natted)
	other := testNode(t, nil)
	serve(t, other)

	// other knows natted only by its relayed address, and dials through
	// the swarm alone (no DHT lookup that could find a direct address).
	relayed, err := ma.NewMultiaddr(relay.Addrs()[0] + "/p2p-circuit")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "a connection through the relay", func() bool {
		// Each try starts afresh: no connection (hole punching may have
		// made a direct one from an earlier relayed one), the relayed
		// address alone (the DHT may have taught other a direct one), and
		// no dial backoff from a try made before the reservation existed.
		net := other.Host().Network()
		_ = net.ClosePeer(natted.ID())
		other.Host().Peerstore().ClearAddrs(natted.ID())
		other.Host().Peerstore().AddAddrs(natted.ID(), []ma.Multiaddr{relayed}, time.Minute)
		net.(*swarm.Swarm).Backoff().Clear(natted.ID())
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := net.DialPeer(ctx, natted.ID())
		return err == nil && isCircuit(c.RemoteMultiaddr())
	})

	// A node that opted out offers no relay, even when public.
	quiet := testNode(t, func(c *Config) { c.Reachability = network.ReachabilityPublic; c.NoRelayService = true })
	serve(t, quiet)
	time.Sleep(500 * time.Millisecond)
	if slices.Contains(quiet.Host().Mux().Protocols(), circuit.ProtoIDv2Hop) {
		t.Fatal("a node with NoRelayService offers the relay protocol")
	}
}
