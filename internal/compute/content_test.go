package compute_test

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/compute"
	"github.com/peerpath/peerpath/internal/compute/computetest"
	"github.com/peerpath/peerpath/internal/compute/memcontent"
)

// The in-memory Content the package's tests and computebench use
// (memcontent) keeps the same contract as the node's.
func TestMemContentConformance(t *testing.T) {
	a, err := peer.Decode("12D3KooWNgaxHpSCexDvUY31qjVTJqRfZB8ArdRgEcF9zavYQHPt")
	if err != nil {
		t.Fatal(err)
	}
	b, err := peer.Decode("12D3KooWL6zAdy8XwUYWWRzoR1S4tvKWsiLi4LtLqRCQxBZLPYEF")
	if err != nil {
		t.Fatal(err)
	}
	n := memcontent.NewNet(compute.ValidContentKey)
	computetest.TestContent(t, n.Node(a), n.Node(b), a, b)
}
