package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/testutil"
)

// A node finds the providers a DHT record names, and the connected peers
// after them; never itself, never the same peer twice.
func TestFindProviders(t *testing.T) {
	a, b, c := testNode(t, nil), testNode(t, nil), testNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range []*Node{b, c} {
		if err := a.Connect(ctx, n.Addrs()[0]); err != nil {
			t.Fatal(err)
		}
	}
	// The DHT asks only peers in its routing table, which it fills once
	// identify has run.
	testutil.Eventually(t, 10*time.Second, "b and c in a's routing table", func() bool {
		rt := a.DHT().RoutingTable()
		return rt.Find(b.ID()) != "" && rt.Find(c.ID()) != ""
	})
	id := content.HashBytes([]byte("provided by b"), 0).ID()
	if err := b.Provide(ctx, id); err != nil {
		t.Fatalf("provide: %v", err)
	}
	got, err := a.FindProviders(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != b.ID() || got[1].ID != c.ID() {
		t.Fatalf("providers %v, want b (the record) then c (connected)", got)
	}
	// A node with no peers finds no one, and says so without error.
	alone := testNode(t, nil)
	if got, err := alone.FindProviders(ctx, id); err != nil || len(got) != 0 {
		t.Fatalf("alone: %v %v", got, err)
	}
}
