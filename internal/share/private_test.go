package share

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/testutil"
)

// A share in a private folder (the outbox) is neither announced nor
// listed nor in the search catalogue, and its manifests and chunks are
// served to the peer MayServe allows, and to local reads, only.
func TestPrivateShare(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	outbox := filepath.Join(dir, "outbox")
	sent := filepath.Join(outbox, "x1", "sent")
	public := filepath.Join(dir, "public.bin")
	makeTree(t, sent)
	writeFile(t, public, randData(7, cs+5))
	const recipient, stranger = peer.ID("recipient"), peer.ID("stranger")
	rec := &recorder{}
	var root string
	s := newService(t, filepath.Join(dir, "db"), func(c *Config) {
		c.Announcer = rec
		c.AnnounceRate = 1000
		c.ReannounceEvery = 100 * time.Millisecond
		c.Private = []string{outbox}
		c.MayServe = func(p peer.ID, rootCID string) bool { return p == recipient && rootCID == root }
	})
	sh, err := s.Add(ctx, sent)
	if err != nil {
		t.Fatal(err)
	}
	root = sh.CID
	pub, err := s.Add(ctx, public)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, s)
	// Re-announce rounds pass; only the public file is ever announced.
	testutil.Eventually(t, 5*time.Second, "two announcements of the public file", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.ids) >= 2
	})
	rec.mu.Lock()
	for _, id := range rec.ids {
		if id.String() != pub.CID {
			t.Errorf("announced %s of the private share", id)
		}
	}
	rec.mu.Unlock()
	ls, err := s.List(ctx)
	if err != nil || len(ls) != 1 || ls[0].CID != pub.CID {
		t.Fatalf("List = %+v, %v", ls, err)
	}
	for _, f := range filesByRel(t, s) {
		if f.ShareCID == sh.CID {
			t.Fatalf("Files lists the private %+v", f)
		}
	}

	id, _ := cid.Decode(sh.CID)
	m, err := s.Manifest(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := content.DecodeDirManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	big := dm.Entries[0].ID // an entry of the folder
	for _, c := range []struct {
		ctx  context.Context
		want bool
	}{
		{ctx, true}, // a local read
		{p2p.WithRemotePeer(ctx, recipient), true},
		{p2p.WithRemotePeer(ctx, stranger), false},
	} {
		_, err := s.Manifest(c.ctx, id)
		_, err2 := s.Manifest(c.ctx, big)
		if got := err == nil && err2 == nil; got != c.want {
			p, _ := p2p.RemotePeer(c.ctx)
			t.Errorf("manifests for %q: %v, %v", p, err, err2)
		}
		if !c.want && (!errors.Is(err, ErrNotFound) || !errors.Is(err2, ErrNotFound)) {
			t.Errorf("refused manifest is not 'not found': %v, %v", err, err2)
		}
	}
	chunk := firstChunk(t, s, sh.CID)
	if _, err := s.Chunk(p2p.WithRemotePeer(ctx, stranger), chunk, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("chunk to a stranger: %v", err)
	}
	if _, err := s.Chunk(p2p.WithRemotePeer(ctx, recipient), chunk, nil); err != nil {
		t.Fatalf("chunk to the recipient: %v", err)
	}
}

// firstChunk returns a chunk id of a file in the share rootCID.
func firstChunk(t *testing.T, s *Service, rootCID string) cid.Cid {
	t.Helper()
	var fileCID string
	if err := s.db.QueryRow(`SELECT f.cid FROM share_files f JOIN share_roots r ON r.id = f.share_id
		WHERE r.root_cid = ? AND f.is_dir = 0 AND f.size > 0 LIMIT 1`, rootCID).Scan(&fileCID); err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(fileCID)
	m, err := s.Manifest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := content.DecodeFileManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	return fm.Chunks[0]
}

// TestPrivateRootsTracked: manifests are served without a query only while
// no share lies in a private folder; a private share added later, one of
// two removed, or a restart never lets a stranger read a private manifest.
func TestPrivateRootsTracked(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	outbox := filepath.Join(dir, "outbox")
	one, two := filepath.Join(outbox, "x1", "sent"), filepath.Join(outbox, "x2", "sent")
	public := filepath.Join(dir, "public.bin")
	makeTree(t, one)
	makeTree(t, two)
	writeFile(t, filepath.Join(two, "only-in-two"), []byte("two"))
	writeFile(t, public, randData(8, cs+5))
	const stranger = peer.ID("stranger")
	open := func() *Service {
		return newService(t, filepath.Join(dir, "db"), func(c *Config) {
			c.Private = []string{outbox}
			c.MayServe = func(peer.ID, string) bool { return false }
		})
	}
	s := open()
	pub, err := s.Add(ctx, public)
	if err != nil {
		t.Fatal(err)
	}
	pubID, _ := cid.Decode(pub.CID)
	remote := p2p.WithRemotePeer(ctx, stranger)
	check := func(s *Service, what string, ids ...string) {
		t.Helper()
		if _, err := s.Manifest(remote, pubID); err != nil {
			t.Fatalf("%s: public manifest: %v", what, err)
		}
		for _, id := range ids {
			c, _ := cid.Decode(id)
			if _, err := s.Manifest(remote, c); !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s: a stranger read private manifest %s: %v", what, id, err)
			}
		}
	}
	check(s, "no private share")
	if s.privateRoots.Load() {
		t.Fatal("private roots set with none")
	}
	sh1, err := s.Add(ctx, one)
	if err != nil {
		t.Fatal(err)
	}
	sh2, err := s.Add(ctx, two)
	if err != nil {
		t.Fatal(err)
	}
	check(s, "two private shares", sh1.CID, sh2.CID)
	if err := s.Remove(ctx, one); err != nil {
		t.Fatal(err)
	}
	check(s, "one removed", sh2.CID)
	s2 := open() // a restart
	check(s2, "after a restart", sh2.CID)
	if err := s2.Remove(ctx, two); err != nil {
		t.Fatal(err)
	}
	if s2.privateRoots.Load() {
		t.Fatal("private roots still set with none left")
	}
	check(s2, "none left")
}
