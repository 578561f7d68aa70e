package content

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/peerpath/peerpath/internal/testutil"
)

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBuildDir(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	root := filepath.Join(base, "share")
	outside := filepath.Join(base, "secret.txt")
	writeFile(t, outside, []byte("secret"))
	files := map[string][]byte{
		"a.txt":          []byte("alpha"),
		"big.bin":        testutil.SeededBytes(3, 5*MinChunkSize+11),
		"sub/b.txt":      []byte("beta"),
		"sub/deep/c.bin": testutil.SeededBytes(4, MinChunkSize+1),
		"empty.txt":      nil,
	}
	for rel, data := range files {
		writeFile(t, filepath.Join(root, filepath.FromSlash(rel)), data)
	}
	if err := os.MkdirAll(filepath.Join(root, "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(outside, filepath.Join(root, "escape")))
	must(os.Symlink("../a.txt", filepath.Join(root, "sub", "link.txt")))
	must(os.Symlink("..", filepath.Join(root, "sub", "loop")))
	writeFile(t, filepath.Join(root, `bad\name`), []byte("x"))
	writeFile(t, filepath.Join(root, "sub", "partial.part"), []byte("in progress"))
	writeFile(t, filepath.Join(root, "ignored", "x.txt"), []byte("x"))

	var mu sync.Mutex
	skipped := map[string]error{}
	ignore := func(rel string, isDir bool) bool {
		return strings.HasSuffix(rel, ".part") || (isDir && rel == "ignored")
	}
	opts := BuildOptions{ChunkSize: MinChunkSize, Workers: 2, Ignore: ignore, Skipped: func(rel string, err error) {
		mu.Lock()
		defer mu.Unlock()
		skipped[rel] = err
	}}
	tree, err := BuildDir(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"escape", "sub/loop", `bad\name`} {
		if !errors.Is(skipped[rel], ErrSkipped) {
			t.Errorf("%s not skipped: %v", rel, skipped[rel])
		}
	}
	if len(skipped) != 3 {
		t.Errorf("skipped %v", skipped)
	}
	got := map[string]*Node{}
	must(tree.Walk(func(n *Node) error { got[n.Rel] = n; return nil }))
	want := []string{"", "a.txt", "big.bin", "empty.txt", "emptydir", "sub", "sub/b.txt", "sub/deep", "sub/deep/c.bin", "sub/link.txt"}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) != len(want) {
		t.Fatalf("tree has %v, want %v", keys, want)
	}
	files["sub/link.txt"] = files["a.txt"]
	var total int64
	for rel, data := range files {
		n := got[rel]
		m, err := HashFile(ctx, filepath.Join(root, filepath.FromSlash(rel)), MinChunkSize, 1)
		must(err)
		if n == nil || n.File == nil || !n.ID.Equals(m.ID()) || n.Size != int64(len(data)) {
			t.Fatalf("%s: node %+v, want id %s", rel, n, m.ID())
		}
		total += int64(len(data))
	}
	if tree.Size != total || tree.Dir == nil || tree.Files() != len(files) {
		t.Fatalf("root size %d files %d, want %d and %d", tree.Size, tree.Files(), total, len(files))
	}
	// Each folder's manifest lists exactly its kept children, and its id is
	// the id of that manifest.
	must(tree.Walk(func(n *Node) error {
		if n.Dir == nil {
			return nil
		}
		if len(n.Dir.Entries) != len(n.Children) || !n.ID.Equals(n.Dir.ID()) {
			t.Errorf("%q: %d entries, %d children", n.Rel, len(n.Dir.Entries), len(n.Children))
		}
		for i, e := range n.Dir.Entries {
			if e.Name != n.Children[i].Name || !e.ID.Equals(n.Children[i].ID) {
				t.Errorf("%q entry %d: %s vs %s", n.Rel, i, e.Name, n.Children[i].Name)
			}
		}
		return nil
	}))

	// Same bytes elsewhere give the same root id; Reuse is consulted and
	// its answer used.
	again, err := BuildDir(ctx, root, BuildOptions{ChunkSize: MinChunkSize, Ignore: ignore, Reuse: func(rel string, info fs.FileInfo) *FileManifest {
		if n := got[rel]; n != nil && n.File != nil && n.Size == info.Size() {
			return n.File
		}
		return nil
	}})
	must(err)
	if !again.ID.Equals(tree.ID) {
		t.Fatal("rebuild with Reuse changed the root id")
	}
	writeFile(t, filepath.Join(root, "sub/b.txt"), []byte("BETA"))
	changed, err := BuildDir(ctx, root, opts)
	must(err)
	if changed.ID.Equals(tree.ID) {
		t.Fatal("changing a file did not change the root id")
	}

	// A single file as root.
	one, err := BuildDir(ctx, filepath.Join(root, "big.bin"), opts)
	must(err)
	if one.File == nil || !one.ID.Equals(got["big.bin"].ID) || one.Name != "big.bin" {
		t.Fatalf("file root: %+v", one)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := BuildDir(cctx, root, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled build: %v", err)
	}
	if _, err := BuildDir(ctx, filepath.Join(base, "nope"), opts); err == nil {
		t.Fatal("missing root accepted")
	}
}
