package transfer

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/testutil"
)

// TestGetFromOwnSource: a Get of content the node serves itself is copied
// from its own Source with no provider at all (it used to wait for one
// until the timeout), and what the Source lacks comes from the network.
func TestGetFromOwnSource(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	tr := tree{
		"big.bin": testutil.RandBytes(5*testChunk + 17),
		"small":   []byte("hello"),
		"empty":   []byte{},
		"sub":     tree{"a": testutil.RandBytes(1000), "b": testutil.RandBytes(testChunk + 3)},
	}
	own := newMemSource()
	id, total := own.addTree(tr, testChunk)

	// Nobody else has it.
	c := newClient(t, &staticFinder{}, func(c *Config) { c.Source = own })
	out := filepath.Join(t.TempDir(), "copy")
	start := time.Now()
	res, err := c.Get(ctx, id, GetOptions{Output: out, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	assertTree(t, out, tr)
	if res.Files != 5 || res.Size != total || res.Fetched != 0 || res.Peers != 0 {
		t.Fatalf("result %+v (total %d): want 5 files, nothing fetched, no peer", res, total)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("local copy took %v", d)
	}
	// A single file too.
	fm := own.addFile(tr["big.bin"].([]byte), testChunk)
	res, err = c.Get(ctx, fm.ID(), GetOptions{Output: filepath.Join(t.TempDir(), "f"), Timeout: 20 * time.Second})
	if err != nil || res.Fetched != 0 || res.Size != fm.Size {
		t.Fatalf("file: %+v, %v", res, err)
	}

	// The Source lacks a chunk of the big file and a small file's
	// manifest (a shared file changed since it was indexed): those come
	// from a peer that has everything.
	partial := newMemSource()
	partial.copyFrom(own)
	lost := map[cid.Cid]bool{fm.Chunks[2]: true, content.HashBytes([]byte("hello"), testChunk).Chunks[0]: true}
	if len(mustDir(t, own, id).Entries) != 4 {
		t.Fatal("tree")
	}
	partial.set(func(s *memSource) { s.notFound = func(c cid.Cid) bool { return lost[c] } })
	f, _, _ := swarm(t, own, 1)
	c2 := newClient(t, f, func(c *Config) { c.Source = partial })
	out2 := filepath.Join(t.TempDir(), "copy2")
	res, err = c2.Get(ctx, id, GetOptions{Output: out2, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	assertTree(t, out2, tr)
	if res.Fetched != int64(testChunk)+5 || res.Peers != 1 {
		t.Fatalf("result %+v: want the missing parts only from the one peer", res)
	}
}

// mustDir returns the folder manifest id of src.
func mustDir(t *testing.T, src *memSource, id cid.Cid) *content.DirManifest {
	t.Helper()
	raw, err := src.Manifest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := content.DecodeDirManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return dm
}
