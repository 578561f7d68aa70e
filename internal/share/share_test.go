package share

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"go.uber.org/goleak"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/store"
	"github.com/peerpath/peerpath/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const cs = content.MinChunkSize

func randData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func openDB(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newService(t *testing.T, dbPath string, mod func(*Config)) *Service {
	t.Helper()
	cfg := Config{DB: openDB(t, dbPath), ChunkSize: cs, Workers: 2, WatchDebounce: 100 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serve runs s.Serve until the test ends.
func serve(t *testing.T, s *Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

var tree = map[string][]byte{
	"readme.txt":         []byte("hello"),
	"big.bin":            randData(1, 4*cs+100),
	"docs/a.md":          []byte("# a"),
	"docs/deep/b.bin":    randData(2, cs+1),
	"docs/deep/copy.bin": randData(1, 4*cs+100), // same bytes as big.bin
	"empty":              nil,
}

func makeTree(t *testing.T, root string) {
	t.Helper()
	for rel, data := range tree {
		writeFile(t, filepath.Join(root, filepath.FromSlash(rel)), data)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func filesByRel(t *testing.T, s *Service) map[string]FileEntry {
	t.Helper()
	fs, err := s.Files(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]FileEntry)
	for _, f := range fs {
		out[f.RelPath] = f
	}
	return out
}

func TestAddFolder(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "stuff")
	makeTree(t, root)
	outside := filepath.Join(dir, "outside.txt")
	writeFile(t, outside, []byte("private"))
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	s := newService(t, filepath.Join(dir, "db"), nil)
	sh, err := s.Add(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	want, err := content.BuildDir(ctx, root, content.BuildOptions{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, d := range tree {
		total += int64(len(d))
	}
	if sh.CID != want.ID.String() || sh.Name != "stuff" || sh.Path != root || !sh.Dir || sh.Files != len(tree) || sh.Size != total {
		t.Fatalf("share %+v, want cid %s", sh, want.ID)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].CID != sh.CID {
		t.Fatalf("List = %+v, %v", list, err)
	}
	files := filesByRel(t, s)
	if _, ok := files["escape"]; ok {
		t.Fatal("symlink escaping the share was indexed")
	}
	for rel, data := range tree {
		m, err := content.HashFile(ctx, filepath.Join(root, filepath.FromSlash(rel)), cs, 1)
		if err != nil {
			t.Fatal(err)
		}
		f, ok := files[rel]
		if !ok || f.CID != m.ID().String() || f.Size != int64(len(data)) || f.Dir || f.ShareCID != sh.CID || f.Share != root {
			t.Fatalf("%s: entry %+v, want %s", rel, f, m.ID())
		}
		enc, err := s.Manifest(ctx, m.ID())
		if err != nil || !bytes.Equal(enc, m.Encode()) {
			t.Fatalf("%s: manifest %v", rel, err)
		}
		for i, c := range m.Chunks {
			off, n := m.ChunkRange(i)
			got, err := s.Chunk(ctx, c, nil)
			if err != nil || !bytes.Equal(got, data[off:off+n]) {
				t.Fatalf("%s chunk %d: %v", rel, i, err)
			}
			if !s.Has(ctx, c) {
				t.Fatalf("%s chunk %d: Has = false", rel, i)
			}
		}
	}
	for _, rel := range []string{"", "docs", "docs/deep"} {
		if f, ok := files[rel]; !ok || !f.Dir {
			t.Fatalf("folder %q missing: %+v", rel, f)
		}
	}
	enc, err := s.Manifest(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := content.Decode(want.ID, enc)
	if dm, ok := v.(*content.DirManifest); err != nil || !ok || len(dm.Entries) != 4 {
		t.Fatalf("root manifest: %T %v", v, err)
	}
	// The chunk buffer is reused when large enough.
	buf := make([]byte, 0, cs)
	c := content.HashBytes(tree["readme.txt"], cs).Chunks[0]
	got, err := s.Chunk(ctx, c, buf)
	if err != nil || &got[0] != &buf[:1][0] {
		t.Fatalf("Chunk did not use the buffer: %v", err)
	}
	missing := content.ChunkID([]byte("nobody has this"))
	if _, err := s.Chunk(ctx, missing, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing chunk: %v", err)
	}
	if _, err := s.Manifest(ctx, content.NewID(content.CodecDir, []byte("x"))); !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing manifest: %v", err)
	}
	if s.Has(ctx, missing) {
		t.Fatal("Has(missing) = true")
	}
}

func TestSameBytesSameID(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a", "share"), filepath.Join(dir, "b", "share")
	makeTree(t, a)
	makeTree(t, b)
	s1 := newService(t, filepath.Join(dir, "db1"), nil)
	s2 := newService(t, filepath.Join(dir, "db2"), func(c *Config) { c.Workers = 1 })
	sh1, err := s1.Add(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	sh2, err := s2.Add(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if sh1.CID != sh2.CID {
		t.Fatalf("same tree, different ids: %s vs %s", sh1.CID, sh2.CID)
	}
	writeFile(t, filepath.Join(b, "readme.txt"), []byte("hellO"))
	sh3, err := s2.Add(ctx, b)
	if err != nil || sh3.CID == sh1.CID {
		t.Fatalf("changed tree kept its id: %v", err)
	}
}

func TestAddIsIncremental(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "share")
	makeTree(t, root)
	s := newService(t, filepath.Join(dir, "db"), nil)
	if _, err := s.Add(ctx, root); err != nil {
		t.Fatal(err)
	}
	rowIDs := func() map[string]int64 {
		rows, err := s.db.QueryContext(ctx, `SELECT rel_path, id FROM share_files`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]int64{}
		for rows.Next() {
			var rel string
			var id int64
			if err := rows.Scan(&rel, &id); err != nil {
				t.Fatal(err)
			}
			out[rel] = id
		}
		return out
	}
	before := rowIDs()
	writeFile(t, filepath.Join(root, "docs/a.md"), []byte("# changed"))
	sh, err := s.Add(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	after := rowIDs()
	for rel, id := range before {
		changed := rel == "docs/a.md"
		if (after[rel] != id) != changed {
			t.Errorf("%s: row %d -> %d (changed file: %v)", rel, id, after[rel], changed)
		}
	}
	list, _ := s.List(ctx)
	if len(list) != 1 || list[0].CID != sh.CID {
		t.Fatalf("re-adding made %d shares", len(list))
	}
	var manifests int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM share_manifests WHERE cid NOT IN (SELECT cid FROM share_files)`).Scan(&manifests); err != nil || manifests != 0 {
		t.Fatalf("%d orphaned manifests (%v)", manifests, err)
	}
}

func TestChunkRefusesChangedFile(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "file.bin")
	orig := randData(3, 3*cs)
	writeFile(t, p, orig)
	s := newService(t, filepath.Join(dir, "db"), nil)
	sh, err := s.Add(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	m := content.HashBytes(orig, cs)
	if sh.CID != m.ID().String() || sh.Dir || sh.Files != 1 {
		t.Fatalf("file share %+v", sh)
	}
	info, _ := os.Stat(p)
	// Change one byte of chunk 1 in place and put the mtime back, so size
	// and mtime both look unchanged: only verification can notice.
	changed := bytes.Clone(orig)
	changed[cs+5] ^= 0xff
	writeFile(t, p, changed)
	if err := os.Chtimes(p, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Chunk(ctx, m.Chunks[1], nil)
	if !errors.Is(err, content.ErrHashMismatch) || got != nil {
		t.Fatalf("changed chunk served: %v", err)
	}
	if got, err := s.Chunk(ctx, m.Chunks[0], nil); err != nil || !bytes.Equal(got, orig[:cs]) {
		t.Fatalf("unchanged chunk: %v", err)
	}
	// Serve's re-index picks up the new content despite the unchanged mtime.
	serve(t, s)
	newM := content.HashBytes(changed, cs)
	testutil.Eventually(t, 10*time.Second, "re-index after mismatch", func() bool {
		l, err := s.List(ctx)
		return err == nil && len(l) == 1 && l[0].CID == newM.ID().String()
	})
	if got, err := s.Chunk(ctx, newM.Chunks[1], nil); err != nil || !bytes.Equal(got, changed[cs:2*cs]) {
		t.Fatalf("new chunk: %v", err)
	}
	if _, err := s.Chunk(ctx, m.Chunks[1], nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old chunk after re-index: %v", err)
	}
	if _, err := s.Manifest(ctx, m.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old manifest after re-index: %v", err)
	}
	// A truncated file is refused too.
	if err := os.Truncate(p, cs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Chunk(ctx, newM.Chunks[2], nil); err == nil {
		t.Fatal("chunk beyond the end of a truncated file served")
	}
}

func TestWatcher(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "share")
	makeTree(t, root)
	s := newService(t, filepath.Join(dir, "db"), nil)
	if _, err := s.Add(ctx, root); err != nil {
		t.Fatal(err)
	}
	serve(t, s)
	wait := func(what string, cond func(map[string]FileEntry) bool) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, what, func() bool { return cond(filesByRel(t, s)) })
	}
	time.Sleep(200 * time.Millisecond) // let the first watch sync happen

	added := []byte("new file")
	writeFile(t, filepath.Join(root, "docs", "added.txt"), added)
	wait("added file", func(f map[string]FileEntry) bool {
		return f["docs/added.txt"].CID == content.HashBytes(added, cs).ID().String()
	})
	// A file in a new subfolder: the folder must be picked up and watched.
	writeFile(t, filepath.Join(root, "newdir", "x.txt"), []byte("x"))
	wait("file in new folder", func(f map[string]FileEntry) bool { _, ok := f["newdir/x.txt"]; return ok })
	writeFile(t, filepath.Join(root, "newdir", "y.txt"), []byte("y"))
	wait("second file in new folder", func(f map[string]FileEntry) bool { _, ok := f["newdir/y.txt"]; return ok })

	changed := []byte("hello, changed")
	writeFile(t, filepath.Join(root, "readme.txt"), changed)
	wait("changed file", func(f map[string]FileEntry) bool {
		return f["readme.txt"].CID == content.HashBytes(changed, cs).ID().String()
	})
	if err := os.Remove(filepath.Join(root, "docs", "deep", "b.bin")); err != nil {
		t.Fatal(err)
	}
	wait("removed file", func(f map[string]FileEntry) bool { _, ok := f["docs/deep/b.bin"]; return !ok })

	want, err := content.BuildDir(ctx, root, content.BuildOptions{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	wait("root id", func(f map[string]FileEntry) bool { return f[""].CID == want.ID.String() })
}

type recorder struct {
	mu    sync.Mutex
	ids   []cid.Cid
	times []time.Time
}

func (r *recorder) Provide(ctx context.Context, id cid.Cid) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
	r.times = append(r.times, time.Now())
	return nil
}

func TestAnnounce(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "share")
	makeTree(t, root)
	rec := &recorder{}
	const perSec = 25
	s := newService(t, filepath.Join(dir, "db"), func(c *Config) {
		c.Announcer = rec
		c.AnnounceRate = perSec
		c.AnnounceBurst = 1
	})
	sh, err := s.Add(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	serve(t, s)
	// Distinct ids: 5 distinct files (copy.bin = big.bin), 2 subfolders, root.
	const distinct = 8
	testutil.Eventually(t, 10*time.Second, "announcements", func() bool {
		done, total := s.AnnounceProgress()
		return total >= distinct && done == total
	})
	elapsed := time.Since(start)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ids) != distinct {
		t.Fatalf("announced %d ids, want %d: %v", len(rec.ids), distinct, rec.ids)
	}
	if rec.ids[0].String() != sh.CID {
		t.Fatalf("first announced %s, want the root %s", rec.ids[0], sh.CID)
	}
	seen := map[cid.Cid]bool{}
	for _, id := range rec.ids {
		if seen[id] {
			t.Errorf("%s announced twice", id)
		}
		seen[id] = true
		if content.IsChunk(id) {
			t.Errorf("chunk %s announced", id)
		}
	}
	// With a burst of one, n announcements take at least (n-1)/rate.
	if min := time.Duration(distinct-1) * time.Second / perSec; elapsed < min*9/10 {
		t.Fatalf("%d announcements in %v: not rate limited (min %v)", distinct, elapsed, min)
	}
	if gap := rec.times[len(rec.times)-1].Sub(rec.times[0]); gap < time.Duration(distinct-1)*time.Second/perSec*9/10 {
		t.Fatalf("announcements spread over only %v", gap)
	}
}

func TestReannounce(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	writeFile(t, p, []byte("f"))
	rec := &recorder{}
	s := newService(t, filepath.Join(dir, "db"), func(c *Config) {
		c.Announcer = rec
		c.ReannounceEvery = 150 * time.Millisecond
		c.AnnounceRate = 1000
	})
	if _, err := s.Add(ctx, p); err != nil {
		t.Fatal(err)
	}
	serve(t, s)
	testutil.Eventually(t, 5*time.Second, "three announcements of one root", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.ids) >= 3
	})
}

func TestRemove(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "share")
	makeTree(t, root)
	other := filepath.Join(dir, "other.bin")
	writeFile(t, other, tree["big.bin"]) // shares chunks with the folder
	s := newService(t, filepath.Join(dir, "db"), nil)
	sh, err := s.Add(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, other); err != nil {
		t.Fatal(err)
	}
	rootID, _ := cid.Decode(sh.CID)
	if err := s.Remove(ctx, root); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, root); !errors.Is(err, ErrNotShared) {
		t.Fatalf("second remove: %v", err)
	}
	list, _ := s.List(ctx)
	if len(list) != 1 || list[0].Path != other {
		t.Fatalf("after remove: %+v", list)
	}
	if _, err := s.Manifest(ctx, rootID); !errors.Is(err, ErrNotFound) || s.Has(ctx, rootID) {
		t.Fatalf("removed root manifest still served: %v", err)
	}
	small := content.HashBytes(tree["docs/a.md"], cs).Chunks[0]
	if _, err := s.Chunk(ctx, small, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed chunk: %v", err)
	}
	// Chunks also in the other share are still served, from it.
	big := content.HashBytes(tree["big.bin"], cs)
	if got, err := s.Chunk(ctx, big.Chunks[2], nil); err != nil || !bytes.Equal(got, tree["big.bin"][2*cs:3*cs]) {
		t.Fatalf("shared chunk: %v", err)
	}
	if f := filesByRel(t, s); len(f) != 1 {
		t.Fatalf("files left: %v", f)
	}
}

func TestRestartKeepsCatalog(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "share")
	makeTree(t, root)
	dbPath := filepath.Join(dir, "db")
	db, err := store.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, Config{DB: db, ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := s.Add(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	before := filesByRel(t, s)
	db.Close()

	s2 := newService(t, dbPath, nil)
	list, err := s2.List(ctx)
	if err != nil || len(list) != 1 || list[0] != sh {
		t.Fatalf("after restart: %+v vs %+v (%v)", list, sh, err)
	}
	after := filesByRel(t, s2)
	if len(after) != len(before) {
		t.Fatalf("files %d -> %d", len(before), len(after))
	}
	for rel, f := range before {
		if after[rel] != f {
			t.Fatalf("%s: %+v -> %+v", rel, f, after[rel])
		}
	}
	m := content.HashBytes(tree["docs/deep/b.bin"], cs)
	if got, err := s2.Chunk(ctx, m.Chunks[1], nil); err != nil || !bytes.Equal(got, tree["docs/deep/b.bin"][cs:]) {
		t.Fatalf("chunk after restart: %v", err)
	}
	// A change made while the node was down is found when Serve starts.
	writeFile(t, filepath.Join(root, "offline.txt"), []byte("written while down"))
	serve(t, s2)
	testutil.Eventually(t, 5*time.Second, "offline change", func() bool { _, ok := filesByRel(t, s2)["offline.txt"]; return ok })
}

func TestAddDownloaded(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	s := newService(t, filepath.Join(dir, "db"), nil)

	data := randData(9, 2*cs+3)
	p := filepath.Join(dir, "dl.bin")
	writeFile(t, p, data)
	m := content.HashBytes(data, cs)
	if err := s.AddDownloaded(ctx, p, m.ID(), m.Encode(), nil); err != nil {
		t.Fatal(err)
	}
	list, _ := s.List(ctx)
	if len(list) != 1 || !list[0].Downloaded || list[0].CID != m.ID().String() {
		t.Fatalf("downloaded share: %+v", list)
	}
	if got, err := s.Chunk(ctx, m.Chunks[2], nil); err != nil || !bytes.Equal(got, data[2*cs:]) {
		t.Fatalf("seeding chunk: %v", err)
	}
	// Manifest bytes that do not match the id, or a file of the wrong size.
	if err := s.AddDownloaded(ctx, p, m.ID(), content.HashBytes(data[1:], cs).Encode(), nil); !errors.Is(err, content.ErrHashMismatch) {
		t.Fatalf("wrong manifest: %v", err)
	}
	short := content.HashBytes(data[:cs], cs)
	if err := s.AddDownloaded(ctx, p, short.ID(), short.Encode(), nil); !errors.Is(err, content.ErrHashMismatch) {
		t.Fatalf("wrong size: %v", err)
	}

	root := filepath.Join(dir, "folder")
	makeTree(t, root)
	want, err := content.BuildDir(ctx, root, content.BuildOptions{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddDownloaded(ctx, root, want.ID, want.Dir.Encode(), nil); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "readme.txt"), []byte("tampered"))
	if err := s.AddDownloaded(ctx, root, want.ID, want.Dir.Encode(), nil); !errors.Is(err, content.ErrHashMismatch) {
		t.Fatalf("tampered folder: %v", err)
	}
	list, _ = s.List(ctx)
	if len(list) != 2 || list[1].Path != root || list[1].CID != want.ID.String() {
		t.Fatalf("mismatched folder download changed the catalog: %+v", list)
	}
	other := filepath.Join(dir, "other")
	makeTree(t, other)
	writeFile(t, filepath.Join(other, "extra"), []byte("extra"))
	if err := s.AddDownloaded(ctx, other, want.ID, want.Dir.Encode(), nil); !errors.Is(err, content.ErrHashMismatch) {
		t.Fatalf("wrong folder: %v", err)
	}
	if list, _ = s.List(ctx); len(list) != 2 {
		t.Fatalf("mismatched folder download shared: %+v", list)
	}
}

// TestAddDownloadedTrusted: the manifests of a folder download's files
// are used instead of hashing the files again, and a file changed on disk
// after it (same size, so trusted) is still never served as the
// manifest's: every chunk is verified on read.
func TestAddDownloadedTrusted(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	s := newService(t, filepath.Join(dir, "db"), nil)
	root := filepath.Join(dir, "folder")
	makeTree(t, root)
	want, err := content.BuildDir(ctx, root, content.BuildOptions{ChunkSize: cs})
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]*content.FileManifest)
	want.Walk(func(n *content.Node) error {
		if n.File != nil {
			files[n.Rel] = n.File
		}
		return nil
	})
	if len(files) != len(tree) {
		t.Fatalf("%d file manifests, want %d", len(files), len(tree))
	}
	// The same size, other bytes: hashing would notice, trust does not.
	writeFile(t, filepath.Join(root, "readme.txt"), []byte("HELLO"))
	if err := s.AddDownloaded(ctx, root, want.ID, want.Dir.Encode(), nil); !errors.Is(err, content.ErrHashMismatch) {
		t.Fatalf("hashed again: %v", err)
	}
	if err := s.AddDownloaded(ctx, root, want.ID, want.Dir.Encode(), files); err != nil {
		t.Fatalf("trusted: %v", err)
	}
	if list, _ := s.List(ctx); len(list) != 1 || list[0].CID != want.ID.String() {
		t.Fatalf("catalog %+v", list)
	}
	if _, err := s.Chunk(ctx, files["readme.txt"].Chunks[0], nil); err == nil {
		t.Fatal("served a changed file's bytes as the manifest's chunk")
	}
	if got, err := s.Chunk(ctx, files["docs/a.md"].Chunks[0], nil); err != nil || string(got) != "# a" {
		t.Fatalf("unchanged file: %q, %v", got, err)
	}
	// A trusted manifest of the wrong size is not used.
	writeFile(t, filepath.Join(root, "readme.txt"), []byte("hello!"))
	if err := s.AddDownloaded(ctx, root, want.ID, want.Dir.Encode(), files); !errors.Is(err, content.ErrHashMismatch) {
		t.Fatalf("size mismatch trusted: %v", err)
	}
}

func writeFileErr(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

func openDBB(b *testing.B, path string) *store.DB {
	b.Helper()
	db, err := store.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func TestIgnore(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "downloads")
	makeTree(t, root)
	writeFile(t, filepath.Join(root, "movie.mkv.part"), []byte("partial"))
	s := newService(t, filepath.Join(dir, "db"), func(c *Config) {
		c.Ignore = func(rel string, isDir bool) bool { return strings.HasSuffix(rel, ".part") }
	})
	sh, err := s.Add(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := filesByRel(t, s)["movie.mkv.part"]; ok {
		t.Fatal("ignored file indexed")
	}
	serve(t, s)
	// Wait for the start-up re-indexes to happen and settle.
	var indexed time.Time
	testutil.Eventually(t, 10*time.Second, "start-up re-index to settle", func() bool {
		l, _ := s.List(ctx)
		if len(l) != 1 || !l[0].Indexed.After(sh.Indexed) {
			return false
		}
		before := l[0].Indexed
		time.Sleep(600 * time.Millisecond)
		l, _ = s.List(ctx)
		indexed = l[0].Indexed
		return indexed.Equal(before)
	})
	var l []Share
	// Writing to an ignored file does not re-index the share.
	for i := range 5 {
		writeFile(t, filepath.Join(root, "movie.mkv.part"), randData(uint64(i), 1000))
		time.Sleep(60 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	l, _ = s.List(ctx)
	if !l[0].Indexed.Equal(indexed) {
		t.Fatalf("writing an ignored file re-indexed the share (%v -> %v)", indexed, l[0].Indexed)
	}
	if l[0].CID != sh.CID {
		t.Fatal("share id changed")
	}
}

// TestRacyMtime: a file hashed right after a write is hashed again on the
// next re-index even if a second write kept its size and mtime; an old
// file with unchanged size and mtime is not rehashed.
func TestRacyMtime(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "f.txt")
	s := newService(t, filepath.Join(dir, "db"), nil)
	writeFile(t, p, []byte("version 1"))
	// An mtime in the (near) future stands for "written during indexing",
	// whatever the machine's load.
	recent := time.Now().Add(time.Second)
	if err := os.Chtimes(p, recent, recent); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, p); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, []byte("version 2"))
	if err := os.Chtimes(p, recent, recent); err != nil {
		t.Fatal(err)
	}
	sh, err := s.Add(ctx, p)
	if err != nil || sh.CID != content.HashBytes([]byte("version 2"), cs).ID().String() {
		t.Fatalf("racy write missed: %v", err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, p); err != nil { // records the trusted mtime
		t.Fatal(err)
	}
	writeFile(t, p, []byte("version 3"))
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	sh, err = s.Add(ctx, p)
	if err != nil || sh.CID != content.HashBytes([]byte("version 2"), cs).ID().String() {
		t.Fatalf("unchanged size and old mtime were rehashed: %s %v", sh.CID, err)
	}
}

type slowAnnouncer struct {
	mu             sync.Mutex
	inFlight, peak int
	delay          time.Duration
	calls          int
}

func (a *slowAnnouncer) Provide(ctx context.Context, id cid.Cid) error {
	a.mu.Lock()
	a.inFlight++
	a.calls++
	a.peak = max(a.peak, a.inFlight)
	a.mu.Unlock()
	select {
	case <-time.After(a.delay):
	case <-ctx.Done():
	}
	a.mu.Lock()
	a.inFlight--
	a.mu.Unlock()
	return nil
}

func TestAnnounceParallelAndServeOnce(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "share")
	makeTree(t, root)
	ann := &slowAnnouncer{delay: 300 * time.Millisecond}
	s := newService(t, filepath.Join(dir, "db"), func(c *Config) {
		c.Announcer = ann
		c.AnnounceRate = 1000
		c.AnnounceParallel = 4
	})
	if _, err := s.Add(ctx, root); err != nil {
		t.Fatal(err)
	}
	serve(t, s)
	testutil.Eventually(t, 10*time.Second, "announcements", func() bool {
		done, total := s.AnnounceProgress()
		return total >= 8 && done == total
	})
	ann.mu.Lock()
	peak, calls := ann.peak, ann.calls
	ann.mu.Unlock()
	if calls != 8 || peak < 2 || peak > 4 {
		t.Fatalf("%d calls, peak %d in flight; want 8 calls, 2..4 in flight", calls, peak)
	}
	if err := s.Serve(ctx); !errors.Is(err, ErrServing) {
		t.Fatalf("second Serve: %v", err)
	}
}

// The node's internal shares (compute's and the market's folders) are
// served like any share but not listed to the person.
func TestInternalSharesNotListed(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	internal := filepath.Join(dir, "home", "market")
	mine := filepath.Join(dir, "home", "marketing.txt") // a sibling whose name begins the same
	goods := filepath.Join(internal, "goods", "x.ppgoods")
	writeFile(t, goods, []byte("ciphertext"))
	writeFile(t, mine, []byte("mine"))
	s := newService(t, filepath.Join(dir, "db"), func(c *Config) { c.Internal = []string{internal} })
	g, err := s.Add(ctx, goods)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, mine); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Path != mine {
		t.Fatalf("List: %+v", list)
	}
	all, err := s.ListAll(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("ListAll: %+v %v", all, err)
	}
	id, _ := cid.Decode(g.CID)
	if !s.Has(ctx, id) {
		t.Fatal("an internal share is not served")
	}
}
