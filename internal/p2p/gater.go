package p2p

import (
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// allowGater is a connmgr.ConnectionGater that admits only listed peers.
// Outbound dials to others are refused before any packet is sent; inbound
// connections are refused right after the security handshake, the first
// moment the remote peer's identity is proven.
type allowGater struct {
	allowed map[peer.ID]struct{}
}

func newAllowGater(ids []peer.ID) *allowGater {
	g := &allowGater{allowed: make(map[peer.ID]struct{}, len(ids))}
	for _, id := range ids {
		g.allowed[id] = struct{}{}
	}
	return g
}

func (g *allowGater) ok(p peer.ID) bool {
	_, ok := g.allowed[p]
	return ok
}

func (g *allowGater) InterceptPeerDial(p peer.ID) bool { return g.ok(p) }

func (g *allowGater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.ok(p) }

func (g *allowGater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *allowGater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.ok(p)
}

func (g *allowGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
