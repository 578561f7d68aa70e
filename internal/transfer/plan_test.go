package transfer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/testutil"
)

// addDir adds a folder manifest of entries to m and returns its id.
func (m *memSource) addDir(entries ...content.DirEntry) cid.Cid {
	dm := &content.DirManifest{Entries: entries}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.manifests[dm.ID()] = dm.Encode()
	return dm.ID()
}

// TestManifestBomb: folder manifests that name the folder below twice
// expand exponentially; Get refuses them after fetching each manifest
// once, before it writes anything or asks for a file.
func TestManifestBomb(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	leaf := src.addFile([]byte("boom"), testChunk)
	id, size := leaf.ID(), leaf.Size
	for range 13 {
		id = src.addDir(content.DirEntry{Name: "a", ID: id, Size: size}, content.DirEntry{Name: "b", ID: id, Size: size})
		size *= 2
	}
	f, srcs, _ := swarm(t, src, 1)
	c := newClient(t, f, nil)
	out := filepath.Join(t.TempDir(), "bomb")
	planned := false
	_, err := c.Get(ctx, id, GetOptions{Output: out, Timeout: 5 * time.Second, Plan: func(Plan) { planned = true }})
	if !errors.Is(err, ErrBadContent) || !strings.Contains(err.Error(), "reuses folder manifest") {
		t.Fatalf("got %v, want a refused reuse", err)
	}
	if planned {
		t.Error("a refused tree was shown as a plan")
	}
	if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output created before the refusal: %v", err)
	}
	if n := srcs[0].requestCount(leaf.Chunks[0]); n != 0 {
		t.Errorf("asked for the bomb's chunk %d times", n)
	}
}

// TestPlanLimits: the entry and size caps count every folder expanded, and
// empty folders (which all share one id) may repeat.
func TestPlanLimits(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	fm := src.addFile(testutil.RandBytes(1000), testChunk)
	empty := src.addDir()
	var files []content.DirEntry
	for i := range 10 {
		files = append(files, content.DirEntry{Name: fmt.Sprintf("f%02d", i), ID: fm.ID(), Size: fm.Size})
	}
	sub1 := src.addDir(append(files[:5:5], content.DirEntry{Name: "e", ID: empty})...)
	sub2 := src.addDir(append(files[5:], content.DirEntry{Name: "e", ID: empty})...)
	root := src.addDir(content.DirEntry{Name: "s1", ID: sub1, Size: 5000}, content.DirEntry{Name: "s2", ID: sub2, Size: 5000},
		content.DirEntry{Name: "e", ID: empty})
	f, _, _ := swarm(t, src, 1)
	c := newClient(t, f, nil)

	// 10 files, 6 folders (root, s1, s2 and three empty ones): 16 entries.
	for _, tc := range []struct {
		opt  GetOptions
		want string
	}{
		{GetOptions{MaxEntries: 15}, "too many entries"},
		{GetOptions{MaxSize: 9999}, "too large"},
	} {
		out := filepath.Join(t.TempDir(), "out")
		tc.opt.Output, tc.opt.Timeout = out, 5*time.Second
		_, err := c.Get(ctx, root, tc.opt)
		if !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%+v: got %v, want %q", tc.opt, err, tc.want)
		}
		if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("output created before the refusal: %v", err)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	var plan Plan
	var firstProgress Progress
	res, err := c.Get(ctx, root, GetOptions{Output: out, Timeout: 5 * time.Second, MaxEntries: 16, MaxSize: 10000,
		Plan: func(p Plan) {
			plan = p
			if _, err := os.Lstat(out); err == nil {
				t.Error("output created before the plan was shown")
			}
		},
		Progress: func(p Progress) {
			if firstProgress == (Progress{}) {
				firstProgress = p
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if plan != (Plan{Files: 10, Dirs: 6, Size: 10000}) {
		t.Errorf("plan %+v", plan)
	}
	if firstProgress.Total != 10000 {
		t.Errorf("first progress %+v, want the planned total", firstProgress)
	}
	if res.Files != 10 || res.Size != 10000 {
		t.Errorf("result %+v", res)
	}
	for _, p := range []string{"e", "s1/e", "s2/e"} {
		if fi, err := os.Stat(filepath.Join(out, p)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestPartPath(t *testing.T) {
	dir := t.TempDir()
	if got := PartPath(filepath.Join(dir, "a.bin")); got != filepath.Join(dir, "a.bin.part") {
		t.Errorf("short name: %s", got)
	}
	seen := map[string]bool{}
	for _, n := range []int{243, 244, 251, 254, 255} {
		for _, fill := range []string{"x", "é", "日"} {
			name := strings.Repeat(fill, n/len(fill))
			name += strings.Repeat("y", n-len(name))
			part := PartPath(filepath.Join(dir, name))
			base := filepath.Base(part)
			if len(base)+len(".state") > maxNameLen || !strings.HasSuffix(base, ".part") || !utf8.ValidString(base) {
				t.Errorf("%d bytes of %q: part name %q (%d bytes)", n, fill, base, len(base))
			}
			if filepath.Dir(part) != dir {
				t.Errorf("part %s left the folder", part)
			}
			if seen[part] {
				t.Errorf("two names share the part name %s", base)
			}
			seen[part] = true
			if PartPath(filepath.Join(dir, name)) != part {
				t.Error("not deterministic")
			}
			if err := os.WriteFile(part+".state", nil, 0o644); err != nil {
				t.Errorf("%d bytes: %v", n, err)
			}
		}
	}
}

// TestLongNameFolder: a folder holding files with 255-byte names
// downloads, and resumes.
func TestLongNameFolder(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	long := strings.Repeat("é", 127) + "n"
	id, _ := src.addTree(tree{long: testutil.RandBytes(300_000), "short": testutil.RandBytes(1000)}, testChunk)
	f, _, _ := swarm(t, src, 1)
	c := newClient(t, f, nil)
	out := filepath.Join(t.TempDir(), "out")
	if _, err := c.Get(ctx, id, GetOptions{Output: out, Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(out, long)); err != nil || fi.Size() != 300_000 {
		t.Fatalf("%v", err)
	}
}

// TestFolderErrorNamesCause: when one file of a folder fails, Get reports
// that file's error, not the "context canceled" of the others it stopped.
func TestFolderErrorNamesCause(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	t1 := tree{}
	for i := range 12 {
		t1[fmt.Sprintf("f%02d", i)] = testutil.RandBytes(200_000 + i)
	}
	id, _ := src.addTree(tree{"a": t1, "b": tree{"x": testutil.RandBytes(10)}}, testChunk)
	f, _, _ := swarm(t, src, 1)
	c := newClient(t, f, nil)
	out := filepath.Join(t.TempDir(), "out")
	// f05's output is taken by a folder: that file fails with ErrExists.
	if err := os.MkdirAll(filepath.Join(out, "a", "f05", "z"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := c.Get(ctx, id, GetOptions{Output: out, Timeout: 5 * time.Second})
	if err == nil || !errors.Is(err, ErrExists) || strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("got %v, want the failing file's cause", err)
	}
}

// TestReusedFolder: a tree that holds the same sub-folder twice (Go's src
// does: identical test folders) downloads with both copies, while the
// reuse stays within the tree's own size (see reuseSlack).
func TestReusedFolder(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	src := newMemSource()
	a := src.addFile([]byte("package a\n"), testChunk)
	b := src.addFile(testutil.RandBytes(3000), testChunk)
	same := src.addDir(content.DirEntry{Name: "a.go", ID: a.ID(), Size: a.Size}, content.DirEntry{Name: "b.bin", ID: b.ID(), Size: b.Size})
	mid := src.addDir(content.DirEntry{Name: "x", ID: same, Size: a.Size + b.Size})
	root := src.addDir(content.DirEntry{Name: "one", ID: mid, Size: a.Size + b.Size},
		content.DirEntry{Name: "two", ID: same, Size: a.Size + b.Size},
		content.DirEntry{Name: "c.bin", ID: b.ID(), Size: b.Size})
	f, _, _ := swarm(t, src, 1)
	c := newClient(t, f, nil)
	out := filepath.Join(t.TempDir(), "out")
	var plan Plan
	res, err := c.Get(ctx, root, GetOptions{Output: out, Timeout: 5 * time.Second, Plan: func(p Plan) { plan = p }})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Files != 5 || plan.Dirs != 4 || res.Files != 5 {
		t.Fatalf("plan %+v, result %d files: want 5 files in 4 folders", plan, res.Files)
	}
	for _, p := range []string{"one/x/a.go", "two/a.go"} {
		if got, err := os.ReadFile(filepath.Join(out, p)); err != nil || string(got) != "package a\n" {
			t.Fatalf("%s: %q, %v", p, got, err)
		}
	}
}
