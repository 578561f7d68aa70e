// Package computetest holds the conformance suite of compute.Content: the
// node's implementation (over the share and transfer services) and the
// compute package's in-memory one are held to the same contract by the
// same test.
package computetest

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/compute"
	"github.com/peerpath/peerpath/internal/content"
)

// TestContent checks the Content contract with two nodes' Contents, a and
// b, whose peers are aID and bID; the nodes must be able to reach each
// other. Each call must be given fresh stores (it expects no keys).
func TestContent(t *testing.T, a, b compute.Content, aID, bID peer.ID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rnd := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 2<<20+12345) // several chunks
	for i := range big {
		big[i] = byte(rnd.UintN(256))
	}
	small := []byte("a small input")
	const job = "0123456789abcdef0123456789abcdef"
	kBig, kSmall, kCopy := "job-"+job+"-in-0", "job-"+job+"-in-1", "job-"+job+"-in-2"

	id, err := a.Publish(ctx, kBig, big)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if c, err := cid.Decode(id); err != nil || !content.IsFile(c) {
		t.Fatalf("Publish returned %q, not a file content id (%v)", id, err)
	}
	sid, err := a.Publish(ctx, kSmall, small)
	if err != nil || sid == id {
		t.Fatalf("Publish of other data: %q, %v", sid, err)
	}
	if keys, err := a.Keys(ctx); err != nil || !slices.Equal(sorted(keys), []string{kBig, kSmall}) {
		t.Fatalf("Keys: %v, %v", keys, err)
	}
	if keys, err := b.Keys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("Keys of the other node: %v, %v", keys, err)
	}

	// Fetched from the other node, then again (cached or not), and
	// locally by the publisher.
	for i, c := range []compute.Content{b, b, a} {
		got, err := c.Fetch(ctx, id, int64(len(big)), aID)
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("Fetch %d: %d bytes, %v", i, len(got), err)
		}
	}
	if got, err := b.Fetch(ctx, sid, int64(len(small)), aID); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("Fetch of the small input: %q, %v", got, err)
	}
	// Fetching may not publish.
	if keys, _ := b.Keys(ctx); len(keys) != 0 {
		t.Errorf("Fetch published %v", keys)
	}

	// Wrong sizes, unknown content and ids that are not files are refused.
	fresh := []byte("never published anywhere")
	unknown := content.HashBytes(fresh, 0).ID().String()
	for name, f := range map[string]func() error{
		"size too large": func() error { _, err := b.Fetch(ctx, sid, int64(len(small))+1, aID); return err },
		"size too small": func() error { _, err := b.Fetch(ctx, id, 10, aID); return err },
		"unknown":        func() error { _, err := b.Fetch(ctx, unknown, int64(len(fresh)), aID); return err },
		"unknown local":  func() error { _, err := a.Fetch(ctx, unknown, int64(len(fresh)), aID); return err },
		"chunk id": func() error {
			_, err := b.Fetch(ctx, content.ChunkID(small).String(), int64(len(small)), aID)
			return err
		},
		"not an id": func() error { _, err := b.Fetch(ctx, "hello", 5, aID); return err },
		"bad key":   func() error { _, err := a.Publish(ctx, "../escape", small); return err },
		"empty key": func() error { _, err := a.Publish(ctx, "", small); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}

	// The same bytes under two keys are one content id; removing one key
	// leaves them served under the other.
	cid2, err := a.Publish(ctx, kCopy, small)
	if err != nil || cid2 != sid {
		t.Fatalf("Publish of the same bytes: %q (want %q), %v", cid2, sid, err)
	}
	if err := a.Unpublish(ctx, kSmall); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Fetch(ctx, sid, int64(len(small)), aID); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("Fetch after unpublishing one of two keys: %q, %v", got, err)
	}
	for _, k := range []string{kBig, kCopy, kSmall, "job-" + job + "-in-9"} {
		if err := a.Unpublish(ctx, k); err != nil {
			t.Errorf("Unpublish(%s): %v", k, err)
		}
	}
	if keys, err := a.Keys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("Keys after unpublishing everything: %v, %v", keys, err)
	}

	// Publishing a key again replaces its data.
	k := "result-" + job
	if _, err := b.Publish(ctx, k, small); err != nil {
		t.Fatal(err)
	}
	nid, err := b.Publish(ctx, k, fresh)
	if err != nil || nid != unknown {
		t.Fatalf("republish: %q (want %q), %v", nid, unknown, err)
	}
	if got, err := a.Fetch(ctx, nid, int64(len(fresh)), bID); err != nil || !bytes.Equal(got, fresh) {
		t.Fatalf("Fetch of republished data: %q, %v", got, err)
	}
	if keys, _ := b.Keys(ctx); !slices.Equal(keys, []string{k}) {
		t.Errorf("Keys after republishing: %v", keys)
	}
	if err := b.Unpublish(ctx, k); err != nil {
		t.Fatal(err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
