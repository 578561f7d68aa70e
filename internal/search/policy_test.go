package search

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/testutil"
)

// refuseSet is a Policy refusing a set of ids.
type refuseSet map[string]bool

func (r refuseSet) Refuses(id cid.Cid) bool { return r[id.String()] }

// TestPolicyDropsResults: a node's content policy drops the results naming
// content it refuses, both those the node shows (an answer from another
// peer) and those it gives others (its own index's answers).
func TestPolicyDropsResults(t *testing.T) {
	bad := testEntry(t, "Forbidden Song.mp3", 5000)
	good := testEntry(t, "Forbidden Dance.mp3", 6000)
	refused := refuseSet{bad.CID: true}
	// Peer 0 refuses bad and asks; peer 1 holds both and has no policy;
	// peer 2 holds both and refuses bad.
	tn := newTestNet(t, 3, func(i int, c *Config) {
		if i != 1 {
			c.Policy = refused
		}
	})
	for _, p := range tn.peers[1:] {
		p.cat.add(bad)
		p.cat.add(good)
		p.svc.Refresh()
	}
	waitIndexed(t, tn.peers[1], "forbidden")
	testutil.Eventually(t, 10*time.Second, "peer 2 indexed", func() bool {
		got := 0
		_ = tn.peers[2].svc.Search(context.Background(), "dance", Options{LocalOnly: true}, func(Result) { got++ })
		return got > 0
	})

	// Peer 0 sees the allowed file, never the refused one.
	got, err := collect(t, tn.peers[0].svc, "forbidden", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[good.CID]; !ok || got[bad.CID].CID != "" {
		t.Fatalf("peer 0's results: %v", got)
	}
	// Peer 2's own answers leave it out; peer 1's (no policy) do not.
	local, _ := collect(t, tn.peers[2].svc, "forbidden", Options{LocalOnly: true})
	if _, ok := local[bad.CID]; ok || len(local) != 1 {
		t.Fatalf("peer 2's own answers: %v", local)
	}
	local, _ = collect(t, tn.peers[1].svc, "forbidden", Options{LocalOnly: true})
	if _, ok := local[bad.CID]; !ok {
		t.Fatalf("peer 1 (no policy) lost the file: %v", local)
	}
}
