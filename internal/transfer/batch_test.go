package transfer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/testutil"
)

// TestBatchLiar: a folder of small files (the batched path) from three
// sources, one of which corrupts every chunk and one of which has none of
// them: the liar is dropped and scored down, nothing it sent reaches a
// file, the tree comes out whole from the honest source, and no file is
// left half-written.
func TestBatchLiar(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	root := tree{}
	want := map[string][]byte{}
	for i := range 200 {
		b := testutil.RandBytes(1 + i*53%5000)
		name := fmt.Sprintf("f%03d", i)
		root[name] = b
		want[name] = b
	}
	id, _ := src.addTree(root, testChunk)
	f, srcs, ais := swarm(t, src, 3)
	srcs[0].set(func(s *memSource) { s.lie = func(cid.Cid) bool { return true } })
	srcs[1].set(func(s *memSource) { s.notFound = func(cid.Cid) bool { return true } })
	c := newClient(t, f, nil)
	out := filepath.Join(t.TempDir(), "out")
	res, err := c.Get(ctx, id, GetOptions{Output: out, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != len(want) {
		t.Fatalf("result %d files, want %d", res.Files, len(want))
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Fatalf("%d entries in the output (temporary files left?), want %d", len(entries), len(want))
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s differs (%v)", name, err)
		}
	}
	if sc := c.PeerScore(ais[0].ID); sc >= 0 {
		t.Errorf("the liar's score is %d, want it scored down", sc)
	}
	if srcs[2].served.Load() < int64(len(want))-10 {
		t.Errorf("the honest source served %d chunks", srcs[2].served.Load())
	}
}
