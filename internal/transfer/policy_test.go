package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/testutil"
)

// denySet is a Policy over a set of ids.
type denySet struct {
	mu  sync.Mutex
	ids map[cid.Cid]bool
}

func deny(ids ...cid.Cid) *denySet {
	d := &denySet{ids: make(map[cid.Cid]bool)}
	for _, id := range ids {
		d.ids[id] = true
	}
	return d
}

func (d *denySet) Refuses(id cid.Cid) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ids[id]
}

// refusingSource refuses the chunks of a file the way node's policy
// wrapper does: by wrapping ErrRefused.
type refusingSource struct {
	*memSource
	chunks map[cid.Cid]bool
}

func (r refusingSource) Chunk(ctx context.Context, id cid.Cid, buf []byte) ([]byte, error) {
	if r.chunks[id] {
		return nil, ErrRefused
	}
	return r.memSource.Chunk(ctx, id, buf)
}

// TestServerRefusesByPolicy: a server whose policy refuses a file answers
// "refused" to its manifest, and the getter fails at once with
// ErrRefusedByPeer rather than waiting out its timeout; another file of
// the same server still downloads.
func TestServerRefusesByPolicy(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	src := newMemSource()
	bad := src.addFile(testutil.RandBytes(200_000), testChunk)
	good := src.addFile(testutil.RandBytes(200_000), testChunk)
	_, h := newServerCfg(t, Config{Source: src, Policy: deny(bad.ID())})
	f := &staticFinder{}
	f.set(addrInfo(h))
	c := newClient(t, f, nil)
	dir := t.TempDir()

	start := time.Now()
	_, err := c.Get(ctx, bad.ID(), GetOptions{Output: filepath.Join(dir, "bad"), Timeout: 40 * time.Second})
	if !errors.Is(err, ErrRefusedByPeer) || !strings.Contains(err.Error(), "refused by the serving peer's content policy") {
		t.Fatalf("Get of a refused file: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the refusal took %v (the getter waited instead of reporting it)", d)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("output of a refused file: %v", err)
	}
	if _, err := c.Get(ctx, good.ID(), GetOptions{Output: filepath.Join(dir, "good"), Timeout: 20 * time.Second}); err != nil {
		t.Fatalf("Get of an allowed file: %v", err)
	}
}

// TestServerRefusesChunks: a BlockSource that refuses a file's chunks
// (ErrRefused) makes the server answer "refused" for each, and the getter
// reports ErrRefusedByPeer.
func TestServerRefusesChunks(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	src := newMemSource()
	fm := src.addFile(testutil.RandBytes(300_000), testChunk)
	rs := refusingSource{memSource: src, chunks: make(map[cid.Cid]bool)}
	for _, id := range fm.Chunks {
		rs.chunks[id] = true
	}
	_, h := newServerCfg(t, Config{Source: rs})
	f := &staticFinder{}
	f.set(addrInfo(h))
	c := newClient(t, f, nil)
	start := time.Now()
	_, err := c.Get(ctx, fm.ID(), GetOptions{Output: filepath.Join(t.TempDir(), "f"), Timeout: 20 * time.Second})
	if !errors.Is(err, ErrRefusedByPeer) {
		t.Fatalf("Get: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("the refusal took %v", d)
	}
}

// TestGetRefusedLocally: Get refuses what the node's own policy refuses,
// a file or a folder holding one, before it asks anyone or writes
// anything.
func TestGetRefusedLocally(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	data := testutil.RandBytes(50_000)
	fm := src.addFile(data, testChunk)
	dirID, _ := src.addTree(tree{"ok.txt": []byte("fine"), "sub": tree{"bad.bin": data}}, testChunk)
	f, _, _ := swarm(t, src, 1)
	c := newClient(t, f, func(c *Config) { c.Policy = deny(fm.ID()) })
	out := t.TempDir()
	if _, err := c.Get(ctx, fm.ID(), GetOptions{Output: filepath.Join(out, "f"), Timeout: 10 * time.Second}); !errors.Is(err, ErrRefused) {
		t.Fatalf("Get of a refused file: %v", err)
	}
	if f.calls.Load() != 0 {
		t.Fatalf("a refused Get looked for providers %d times", f.calls.Load())
	}
	_, err := c.Get(ctx, dirID, GetOptions{Output: filepath.Join(out, "d"), Timeout: 10 * time.Second})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "sub/bad.bin") {
		t.Fatalf("Get of a folder holding a refused file: %v", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Fatalf("a refused Get wrote %d entries", len(ents))
	}
}
