package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/internal/compute/computecontent"
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
	if _, err := a.share.Add(ctx, other); err != nil {
		t.Fatal(err)
	}
	files, err := publicCatalog{a.share, a.computeDir(), a.marketDir()}.Files(ctx)
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

	// The peer named as the source is gone: the manifest comes from
	// another provider (a, which b is connected to).
	id, err := ca.Publish(ctx, "job-0123456789abcdef0123456789abcdef-input-7", []byte("input seven"))
	if err != nil {
		t.Fatal(err)
	}
	gone := startNode(t, ctx, nil, nil)
	goneID := gone.ID()
	gone.stop()
	if got, err := cb.Fetch(ctx, id, int64(len("input seven")), goneID); err != nil || string(got) != "input seven" {
		t.Fatalf("fetch with the named source gone: %q %v", got, err)
	}

	// Partial downloads left by failed fetches are dropped once stale;
	// recent ones stay for a retry to resume from.
	cache := filepath.Join(b.computeDir(), "cache")
	old := time.Now().Add(-2 * computecontent.PartialTTL)
	for _, name := range []string{"stale.part", "stale.part.state", "recent.part"} {
		p := filepath.Join(cache, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(name, "stale") {
			os.Chtimes(p, old, old)
		}
	}
	cb.Evict(ctx)
	for name, want := range map[string]bool{"stale.part": false, "stale.part.state": false, "recent.part": true} {
		if _, err := os.Stat(filepath.Join(cache, name)); (err == nil) != want {
			t.Errorf("%s: present %v, want %v", name, err == nil, want)
		}
	}
}
