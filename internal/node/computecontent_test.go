package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/internal/compute/computetest"
)

// The node's compute content (share + transfer) keeps compute.Content's
// contract between two real nodes on loopback; what it publishes stays out
// of the search catalog.
func TestComputeContentConformance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a := startNode(t, ctx, nil, nil)
	b := startNode(t, ctx, a.P2P().Addrs(), nil)
	if err := b.P2P().Connect(ctx, a.P2P().Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	ca, err := newComputeContent(a.Node)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := newComputeContent(b.Node)
	if err != nil {
		t.Fatal(err)
	}
	computetest.TestContent(t, ca, cb, a.ID(), b.ID())

	// What b fetched sits in its cache, seeded; nothing under compute is
	// offered to searches, while other shares are.
	ents, _ := os.ReadDir(filepath.Join(b.computeDir(), "cache"))
	if len(ents) == 0 {
		t.Error("nothing cached after fetches from the other node")
	}
	key := "job-0123456789abcdef0123456789abcdef-module"
	if _, err := ca.Publish(ctx, key, []byte("a module")); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(other, []byte("shared on purpose"), 0o644)
	if _, err := a.files.share.Add(ctx, other); err != nil {
		t.Fatal(err)
	}
	files, err := publicCatalog{a.files.share, a.computeDir()}.Files(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Share != other {
		t.Errorf("search catalog: %+v", files)
	}
	for _, f := range files {
		if strings.HasPrefix(f.Share, a.computeDir()) {
			t.Errorf("compute content offered to search: %+v", f)
		}
	}
}
