//go:build unix

package content

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// TestBuildDirLinkRepointed: a link re-pointed after the folder was read
// and before its file is hashed (Reuse runs in between) is never hashed
// through the new target: outside the folder, or another file inside it.
func TestBuildDirLinkRepointed(t *testing.T) {
	for _, to := range []string{"outside", "inside"} {
		t.Run(to, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "root")
			secret := filepath.Join(base, "secret")
			writeFile(t, secret, []byte("identity key bytes"))
			writeFile(t, filepath.Join(root, "good.txt"), []byte("public"))
			writeFile(t, filepath.Join(root, "other.txt"), []byte("public too"))
			link := filepath.Join(root, "link")
			if err := os.Symlink("good.txt", link); err != nil {
				t.Fatal(err)
			}
			target := secret
			if to == "inside" {
				target = "other.txt"
			}
			var mu sync.Mutex
			skipped := map[string]error{}
			tree, err := BuildDir(context.Background(), root, BuildOptions{Workers: 1,
				Reuse: func(rel string, _ os.FileInfo) *FileManifest {
					if rel == "link" {
						tmp := filepath.Join(base, "tmp")
						if err := os.Symlink(target, tmp); err != nil {
							t.Error(err)
						}
						if err := os.Rename(tmp, link); err != nil {
							t.Error(err)
						}
					}
					return nil
				},
				Skipped: func(rel string, err error) {
					mu.Lock()
					defer mu.Unlock()
					skipped[rel] = err
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			want := ErrFileChanged // another file than the scan saw
			if to == "outside" {
				want = ErrNotInside // refused before its identity is looked at
			}
			if !errors.Is(skipped["link"], want) {
				t.Fatalf("link: skipped with %v, want %v", skipped["link"], want)
			}
			secretID := HashBytes([]byte("identity key bytes"), 0).ID()
			_ = tree.Walk(func(n *Node) error {
				if n.Rel == "link" {
					t.Errorf("the re-pointed link is in the tree as %s", n.ID)
				}
				if n.ID.Equals(secretID) {
					t.Errorf("%s hashed the secret", n.Rel)
				}
				if n.File != nil {
					if id, ok := FileIDOf(n.info); ok && n.FileID != id {
						t.Errorf("%s: FileID %v, want %v", n.Rel, n.FileID, id)
					}
				}
				return nil
			})
		})
	}
}

func TestOpenInside(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	writeFile(t, filepath.Join(base, "secret"), []byte("secret"))
	writeFile(t, filepath.Join(root, "sub", "a.txt"), []byte("a"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("sub/a.txt", filepath.Join(root, "rel")))
	must(os.Symlink(filepath.Join(root, "sub", "a.txt"), filepath.Join(root, "abs")))
	must(os.Symlink("../secret", filepath.Join(root, "up")))
	must(os.Symlink(filepath.Join(base, "secret"), filepath.Join(root, "absout")))
	must(os.Symlink(base, filepath.Join(root, "sub", "out"))) // a folder link leading out
	must(os.Symlink("sub", filepath.Join(root, "dirlink")))
	must(syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	r, err := os.OpenRoot(root)
	must(err)
	defer r.Close()
	want, err := os.Stat(filepath.Join(root, "sub", "a.txt"))
	must(err)
	for _, rel := range []string{"sub/a.txt", "rel", "abs", "dirlink/a.txt"} {
		f, info, err := OpenInside(r, rel)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		f.Close()
		if !os.SameFile(info, want) {
			t.Errorf("%s: opened another file", rel)
		}
	}
	for _, rel := range []string{"up", "absout", "sub/out/secret", "dirlink", "fifo", "missing", "../secret"} {
		if f, _, err := OpenInside(r, rel); err == nil {
			f.Close()
			t.Errorf("%s: opened", rel)
		}
	}
}
