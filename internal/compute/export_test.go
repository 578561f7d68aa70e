package compute

import "github.com/libp2p/go-libp2p/core/peer"

// NewMemContents returns the Contents of two nodes of a fresh in-memory
// content network, for the conformance suite (package compute_test).
func NewMemContents(a, b peer.ID) (Content, Content) {
	n := newMemNet()
	return n.node(a), n.node(b)
}
