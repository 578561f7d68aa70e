package p2p

import (
	"context"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// MaxProviders is how many providers [Node.FindProviders] returns at most.
const MaxProviders = 32

// providerLookup bounds the DHT part of [Node.FindProviders].
const providerLookup = 5 * time.Second

// Provide announces in the DHT that this node provides id.
func (n *Node) Provide(ctx context.Context, id cid.Cid) error {
	return n.dht.Provide(ctx, id, true)
}

// FindProviders returns up to [MaxProviders] peers that may have id: the
// DHT's provider records first (looked up for at most 5 s), then the
// connected LAN peers, then the other connected peers, which answer "not
// found" cheaply when they don't have it. This node is never among them.
func (n *Node) FindProviders(ctx context.Context, id cid.Cid) ([]peer.AddrInfo, error) {
	seen := map[peer.ID]bool{n.ID(): true}
	var out []peer.AddrInfo
	add := func(ai peer.AddrInfo) {
		if seen[ai.ID] || len(out) >= MaxProviders {
			return
		}
		seen[ai.ID] = true
		out = append(out, ai)
	}
	dctx, cancel := context.WithTimeout(ctx, providerLookup)
	defer cancel()
	for ai := range n.dht.FindProvidersAsync(dctx, id, MaxProviders) {
		add(ai)
	}
	var lan, other []peer.ID
	for _, pi := range n.Peers() {
		pid, err := peer.Decode(pi.ID)
		if err != nil || n.h.Network().Connectedness(pid) != network.Connected {
			continue
		}
		if pi.LAN {
			lan = append(lan, pid)
		} else {
			other = append(other, pid)
		}
	}
	for _, pid := range append(lan, other...) {
		add(peer.AddrInfo{ID: pid, Addrs: n.h.Peerstore().Addrs(pid)})
	}
	if len(out) == 0 && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return out, nil
}
