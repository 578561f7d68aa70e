//go:build unix

package share

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/testutil"
)

// repoint makes the symlink at link point to target, atomically.
func repoint(t *testing.T, link, target string) {
	t.Helper()
	tmp := link + ".tmp"
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

// TestChunkRefusesRepointedLink: after indexing, a link in a shared folder
// re-pointed at a file outside the folder, or at another file inside it
// that holds the very same bytes, is never read to serve a chunk: the
// descriptor must be the file that was hashed. The share is re-indexed.
func TestChunkRefusesRepointedLink(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "share")
	data := randData(9, 2*cs)
	writeFile(t, filepath.Join(root, "a.bin"), data)
	writeFile(t, filepath.Join(root, "twin.bin"), data[:cs]) // chunk 0 again, another file
	writeFile(t, filepath.Join(dir, "secret"), data[:cs])    // the same bytes outside
	link := filepath.Join(root, "link")
	if err := os.Symlink("a.bin", link); err != nil {
		t.Fatal(err)
	}
	s := newService(t, filepath.Join(dir, "db"), func(c *Config) {
		c.Ignore = func(rel string, _ bool) bool { return rel == "a.bin" || rel == "twin.bin" }
	})
	if _, err := s.Add(ctx, root); err != nil {
		t.Fatal(err)
	}
	m := content.HashBytes(data, cs)
	if got, err := s.Chunk(ctx, m.Chunks[0], nil); err != nil || !bytes.Equal(got, data[:cs]) {
		t.Fatalf("chunk through the link: %v", err)
	}
	for _, target := range []string{filepath.Join(dir, "secret"), "../secret", "twin.bin"} {
		repoint(t, link, target)
		got, err := s.Chunk(ctx, m.Chunks[0], nil)
		if err == nil || got != nil {
			t.Fatalf("link to %s: chunk served", target)
		}
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("link to %s: %v, want not found", target, err)
		}
	}
	// The refusal scheduled a re-index, which drops the link (it now points
	// at twin.bin, so it is indexed as that file).
	serve(t, s)
	twin := content.HashBytes(data[:cs], cs)
	testutil.Eventually(t, 10*time.Second, "re-index of the re-pointed link", func() bool {
		f := filesByRel(t, s)["link"]
		return f.CID == twin.ID().String()
	})
	if got, err := s.Chunk(ctx, twin.Chunks[0], nil); err != nil || !bytes.Equal(got, data[:cs]) {
		t.Fatalf("re-indexed link: %v", err)
	}
}
