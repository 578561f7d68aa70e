package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/peerpath/peerpath/internal/store"
	"github.com/peerpath/peerpath/internal/testutil"
)

// memStore is an in-memory Store: refs are random, objects kept as given.
type memStore struct {
	mu      sync.Mutex
	objs    map[string][]byte
	puts    int
	deleted int
}

func (m *memStore) Put(_ context.Context, b []byte, k, n int) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := make([]byte, 16)
	rand.Read(r)
	ref := hex.EncodeToString(r)
	m.objs[ref] = bytes.Clone(b)
	m.puts++
	return ref, nil
}
func (m *memStore) Get(_ context.Context, ref string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[ref]
	if !ok {
		return nil, errors.New("no such object")
	}
	return b, nil
}
func (m *memStore) Delete(_ context.Context, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, ref)
	m.deleted++
	return nil
}
func (m *memStore) Check(_ context.Context, ref string) (int, int, int, error) {
	if _, err := m.Get(context.Background(), ref); err != nil {
		return 0, 8, 0, err
	}
	return 8, 8, 0, nil
}

func newService(t *testing.T, st Store) *Service {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := New(context.Background(), Config{DB: db, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeTree(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "docs")
	os.MkdirAll(filepath.Join(dir, "sub", "empty"), 0o755)
	os.WriteFile(filepath.Join(dir, "big.bin"), testutil.RandBytes(3<<20), 0o644)
	os.WriteFile(filepath.Join(dir, "sub", "note.txt"), []byte("hello"), 0o600)
	os.WriteFile(filepath.Join(dir, "zero"), nil, 0o644)
	return dir
}

func sameTree(t *testing.T, a, b string) {
	t.Helper()
	filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(a, p)
		q := filepath.Join(b, rel)
		fi, err := os.Stat(q)
		if err != nil {
			t.Fatalf("missing %s", rel)
		}
		if !d.IsDir() {
			x, _ := os.ReadFile(p)
			y, _ := os.ReadFile(q)
			if !bytes.Equal(x, y) {
				t.Fatalf("%s differs", rel)
			}
			pi, _ := d.Info()
			if pi.Mode().Perm() != fi.Mode().Perm() {
				t.Fatalf("%s mode %v, want %v", rel, fi.Mode(), pi.Mode())
			}
		}
		return nil
	})
}

func TestCreateDedupRestoreForget(t *testing.T) {
	ms := &memStore{objs: map[string][]byte{}}
	s := newService(t, ms)
	ctx := context.Background()
	dir := writeTree(t)
	r1, err := s.Create(ctx, []string{dir}, CreateOptions{K: 4, N: 8})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Files != 3 || r1.Bytes != 3<<20+5 || r1.Stored != r1.Bytes {
		t.Fatalf("first snapshot %+v", r1)
	}
	// A second snapshot with one file changed stores only that change.
	os.WriteFile(filepath.Join(dir, "sub", "note.txt"), []byte("hello again"), 0o600)
	r2, err := s.Create(ctx, []string{dir}, CreateOptions{K: 4, N: 8, Name: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Stored != int64(len("hello again")) {
		t.Fatalf("second snapshot stored %d bytes, want only the changed file", r2.Stored)
	}
	list, _ := s.List(ctx)
	if len(list) != 2 {
		t.Fatalf("list %+v", list)
	}
	// Restore from the cap alone, on another home.
	other := newService(t, ms)
	out := t.TempDir()
	res, err := other.Restore(ctx, r2.Cap, out, RestoreOptions{})
	if err != nil || res.Files != 3 {
		t.Fatalf("restore: %+v %v", res, err)
	}
	sameTree(t, dir, filepath.Join(out, "docs"))
	// A second run skips what is whole (resume).
	os.Remove(filepath.Join(out, "docs", "sub", "note.txt"))
	res, err = other.Restore(ctx, r2.Cap, out, RestoreOptions{})
	if err != nil || res.Skipped != 2 {
		t.Fatalf("resumed restore: %+v %v", res, err)
	}
	sameTree(t, dir, filepath.Join(out, "docs"))
	// Forgetting the first snapshot deletes only its own chunk and manifest.
	before := len(ms.objs)
	if err := s.Forget(ctx, r1.Snapshot); err != nil {
		t.Fatal(err)
	}
	if len(ms.objs) != before-2 {
		t.Fatalf("forget removed %d objects, want 2", before-len(ms.objs))
	}
	if _, err := s.Restore(ctx, r2.Snapshot, t.TempDir(), RestoreOptions{}); err != nil {
		t.Fatalf("the kept snapshot no longer restores: %v", err)
	}
	st, err := s.Status(ctx, r2.Snapshot)
	if err != nil || len(st.Files) != 3 || st.Files[0].Healthy != 8 {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestHostileManifest(t *testing.T) {
	ms := &memStore{objs: map[string][]byte{}}
	s := newService(t, ms)
	ctx := context.Background()
	out := t.TempDir()
	for _, p := range []string{"../evil", "/etc/passwd", "a/../../b", "", "a/./b", `a\..\b`} {
		raw := fmt.Sprintf(`{"v":1,"files":[{"path":%q,"size":0,"hash":"%x","chunks":[]}]}`, p, blake3.Sum256(nil))
		ref, _ := ms.Put(ctx, []byte(raw), 1, 2)
		if _, err := s.Restore(ctx, CapPrefix+ref, out, RestoreOptions{}); !errors.Is(err, ErrBadManifest) {
			t.Fatalf("path %q: %v", p, err)
		}
	}
	// A chunk whose bytes do not match the manifest is refused.
	data := []byte("real")
	cref, _ := ms.Put(ctx, []byte("fake"), 1, 2)
	raw := fmt.Sprintf(`{"v":1,"files":[{"path":"f","size":4,"hash":"%x","chunks":[{"ref":%q,"size":4,"hash":"%x"}]}]}`,
		blake3.Sum256(data), cref, blake3.Sum256(data))
	ref, _ := ms.Put(ctx, []byte(raw), 1, 2)
	if _, err := s.Restore(ctx, CapPrefix+ref, out, RestoreOptions{}); !errors.Is(err, ErrBadManifest) {
		t.Fatalf("wrong chunk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "f")); err == nil {
		t.Fatal("a file was written from a wrong chunk")
	}
	// A symlink in the way is refused, not followed.
	os.Symlink(t.TempDir(), filepath.Join(out, "link"))
	raw = fmt.Sprintf(`{"v":1,"files":[{"path":"link/x","size":0,"hash":"%x","chunks":[]}]}`, blake3.Sum256(nil))
	ref, _ = ms.Put(ctx, []byte(raw), 1, 2)
	if _, err := s.Restore(ctx, CapPrefix+ref, out, RestoreOptions{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("symlink: %v", err)
	}
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add([]byte(`{"v":1,"dirs":["a"],"files":[{"path":"a/b","size":3,"hash":"` + hex.EncodeToString(make([]byte, 32)) + `","chunks":[{"ref":"r","size":3,"hash":"` + hex.EncodeToString(make([]byte, 32)) + `"}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeManifest(b)
		if err != nil {
			return
		}
		for _, fl := range m.Files {
			if !filepath.IsLocal(fl.Path) {
				t.Fatalf("unsafe path %q accepted", fl.Path)
			}
		}
	})
}
