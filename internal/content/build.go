package content

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
)

// ErrSkipped is wrapped by the errors [BuildDir] passes to
// [BuildOptions.Skipped] for entries it leaves out on purpose (symlinks to
// folders or outside the root, special files, invalid names).
var ErrSkipped = errors.New("content: skipped")

// BuildOptions tune [BuildDir]. The zero value is usable.
type BuildOptions struct {
	// ChunkSize is the preferred chunk size; 0 means [DefaultChunkSize].
	ChunkSize int
	// Workers is the number of hashing goroutines; 0 means GOMAXPROCS.
	Workers int
	// Reuse, if not nil, is asked for the manifest of each regular file
	// before it is hashed; a non-nil answer (for example from a catalog
	// whose recorded size and modification time still match info) is used
	// instead of hashing. Its Size must equal info.Size().
	Reuse func(rel string, info fs.FileInfo) *FileManifest
	// Ignore, if not nil, is asked about every entry below the root (rel is
	// its slash-separated path); entries it returns true for are left out
	// silently, and ignored folders are not read.
	Ignore func(rel string, isDir bool) bool
	// Skipped, if not nil, is told about every entry left out of the tree,
	// with the reason: symlinks to folders or outside the root, special
	// files, invalid names ([ErrSkipped]), and files or folders that could
	// not be read or changed while being hashed.
	Skipped func(rel string, err error)
}

// Node is one file or folder of a tree built by [BuildDir].
type Node struct {
	// Name is the base name (for the root, the base name of its path).
	Name string
	// Rel is the slash-separated path from the root; "" for the root.
	Rel string
	// ID is the id of File or Dir.
	ID cid.Cid
	// Size is the file's size, or the folder's total size.
	Size int64
	// ModTime is the file's modification time as seen when it was read.
	ModTime time.Time
	// FileID is the identity of the file that was hashed (zero for folders,
	// and where the platform has none): a server compares it with the file
	// it opens before serving from it.
	FileID FileID
	// File is set for files.
	File *FileManifest
	// Dir is set for folders.
	Dir *DirManifest
	// Children are a folder's entries in name order.
	Children []*Node

	info fs.FileInfo
}

// Walk calls fn for n and every node below it, parents before children,
// stopping at the first error.
func (n *Node) Walk(fn func(*Node) error) error {
	if err := fn(n); err != nil {
		return err
	}
	for _, c := range n.Children {
		if err := c.Walk(fn); err != nil {
			return err
		}
	}
	return nil
}

// Files returns the number of files in the tree.
func (n *Node) Files() int {
	count := 0
	_ = n.Walk(func(x *Node) error {
		if x.File != nil {
			count++
		}
		return nil
	})
	return count
}

// BuildDir hashes the file or folder at root and returns its tree: for a
// folder, a [DirManifest] over its entries with subfolders as nested folder
// manifests. Symlinks are followed only to regular files inside root (a
// symlink to a folder is skipped, so the tree has no cycles); special files,
// entries whose names [ValidName] refuses, and unreadable files are left out
// and reported to opts.Skipped. Small files are hashed in parallel, large
// ones chunk-parallel. BuildDir fails only if root itself cannot be read, a
// folder has more than [MaxDirEntries] usable entries, or ctx ends.
//
// Every file is read through a descriptor opened with [OpenInside], which
// cannot leave root whatever links are re-pointed meanwhile, and whose
// identity ([FileIDOf]) must be the one the scan saw; a file that became
// another file between the scan and the hashing is skipped with
// [ErrFileChanged] (a watcher re-indexes it), never hashed under the old
// name. So no re-pointed link makes BuildDir hash a file outside root.
func BuildDir(ctx context.Context, root string, opts BuildOptions) (*Node, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("content: build %s: %w", root, err)
	}
	realRoot, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("content: build %s: %w", root, err)
	}
	info, err := os.Lstat(realRoot)
	if err != nil {
		return nil, fmt.Errorf("content: build %s: %w", root, err)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	b := &builder{opts: opts, root: realRoot}
	top := &Node{Name: filepath.Base(abs), info: info}
	switch {
	case info.Mode().IsRegular():
		b.pending = append(b.pending, top)
	case info.IsDir():
		if b.r, err = os.OpenRoot(realRoot); err != nil {
			return nil, fmt.Errorf("content: build %s: %w", root, err)
		}
		defer b.r.Close()
		if err := b.scan(ctx, top); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("content: build %s: %w: not a regular file or folder", root, ErrSkipped)
	}
	if err := b.hashAll(ctx); err != nil {
		return nil, err
	}
	if info.Mode().IsRegular() {
		if top.File == nil {
			return nil, b.failed[top]
		}
		return top, nil
	}
	if err := b.assemble(top); err != nil {
		return nil, err
	}
	return top, nil
}

type builder struct {
	opts    BuildOptions
	root    string   // the real path of the root
	r       *os.Root // the root folder, when it is one
	pending []*Node  // files to hash
	mu      sync.Mutex
	failed  map[*Node]error
}

func (b *builder) skip(rel string, err error) {
	if b.opts.Skipped != nil {
		b.opts.Skipped(rel, err)
	}
}

// scan reads the folder of n recursively, through b.r, adding children to
// n and files to b.pending.
func (b *builder) scan(ctx context.Context, n *Node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := "."
	if n.Rel != "" {
		name = filepath.FromSlash(n.Rel)
	}
	d, err := b.r.Open(name)
	if err != nil {
		return fmt.Errorf("content: build: %w", err)
	}
	dinfo, err := d.Stat()
	if err == nil && !os.SameFile(dinfo, n.info) {
		err = fmt.Errorf("%w: folder %s was replaced", ErrFileChanged, n.Rel)
	}
	var ents []fs.DirEntry
	if err == nil {
		ents, err = d.ReadDir(-1)
	}
	d.Close()
	if err != nil {
		return fmt.Errorf("content: build: %w", err)
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, de := range ents {
		name := de.Name()
		rel := path.Join(n.Rel, name)
		if err := ValidName(name); err != nil {
			b.skip(rel, fmt.Errorf("%w: %w", ErrSkipped, err))
			continue
		}
		if b.opts.Ignore != nil && b.opts.Ignore(rel, de.IsDir()) {
			continue
		}
		info, err := de.Info() // Lstat: a link itself, not its target
		if err != nil {
			b.skip(rel, err)
			continue
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			// The target as the descriptor sees it: a link leading out of
			// the folder, or to a folder or special file, is left out.
			f, tinfo, err := OpenInside(b.r, rel)
			if err != nil {
				b.skip(rel, fmt.Errorf("%w: symlink to a file outside the shared folder, or not a regular file: %w", ErrSkipped, err))
				continue
			}
			f.Close()
			info = tinfo
		}
		child := &Node{Name: name, Rel: rel, info: info}
		switch {
		case info.Mode().IsRegular():
			b.pending = append(b.pending, child)
		case info.IsDir():
			if err := b.scan(ctx, child); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.skip(rel, err)
				continue
			}
		default:
			b.skip(rel, fmt.Errorf("%w: not a regular file or folder", ErrSkipped))
			continue
		}
		n.Children = append(n.Children, child)
	}
	return nil
}

func (b *builder) fullPath(n *Node) string {
	if n.Rel == "" {
		return b.root
	}
	return filepath.Join(b.root, filepath.FromSlash(n.Rel))
}

// hashAll fills File and ID of every pending file, in parallel.
func (b *builder) hashAll(ctx context.Context) error {
	b.failed = make(map[*Node]error)
	cs := ChooseChunkSize(0, b.opts.ChunkSize)
	var small, large []*Node
	for _, n := range b.pending {
		if b.opts.Reuse != nil {
			if m := b.opts.Reuse(n.Rel, n.info); m != nil && m.Size == n.info.Size() {
				b.setFile(n, m)
				continue
			}
		}
		if n.info.Size() >= int64(cs)*int64(b.opts.Workers) {
			large = append(large, n)
		} else {
			small = append(small, n)
		}
	}
	hashOne := func(n *Node, workers int) {
		m, err := b.hash(ctx, n, workers)
		if err != nil {
			b.mu.Lock()
			b.failed[n] = err
			b.mu.Unlock()
			return
		}
		b.setFile(n, m)
	}
	for _, n := range large {
		hashOne(n, b.opts.Workers)
	}
	var (
		wg   sync.WaitGroup
		next = make(chan *Node)
	)
	for range min(b.opts.Workers, len(small)) {
		wg.Go(func() {
			for n := range next {
				hashOne(n, 1)
			}
		})
	}
	for _, n := range small {
		if ctx.Err() != nil {
			break
		}
		next <- n
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for n, err := range b.failed {
		b.skip(n.Rel, err)
	}
	return nil
}

// hash opens n's file (through b.r for a folder, refusing a link for a
// single file), checks that it is still the file the scan saw, and hashes
// it through that descriptor.
func (b *builder) hash(ctx context.Context, n *Node, workers int) (*FileManifest, error) {
	var (
		f    *os.File
		info fs.FileInfo
		err  error
	)
	if b.r != nil {
		f, info, err = OpenInside(b.r, n.Rel)
	} else if f, err = os.OpenFile(b.root, os.O_RDONLY|oNoFollow|oNonblock, 0); err == nil {
		info, err = f.Stat()
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("content: hash %s: %w", b.fullPath(n), err)
	}
	defer f.Close()
	if !os.SameFile(info, n.info) {
		return nil, fmt.Errorf("%w: %s is another file than when the folder was read", ErrFileChanged, b.fullPath(n))
	}
	return hashOpen(ctx, f, info, b.fullPath(n), b.opts.ChunkSize, workers)
}

func (b *builder) setFile(n *Node, m *FileManifest) {
	n.File = m
	n.ID = m.ID()
	n.Size = m.Size
	n.ModTime = n.info.ModTime()
	n.FileID, _ = FileIDOf(n.info)
}

// assemble computes folder manifests bottom-up, dropping files that failed.
func (b *builder) assemble(n *Node) error {
	kept := n.Children[:0]
	dm := &DirManifest{}
	for _, c := range n.Children {
		if c.info.IsDir() {
			if err := b.assemble(c); err != nil {
				b.skip(c.Rel, err)
				continue
			}
		} else if c.File == nil {
			continue
		}
		kept = append(kept, c)
		dm.Entries = append(dm.Entries, DirEntry{Name: c.Name, ID: c.ID, Size: c.Size})
	}
	n.Children = kept
	slices.SortFunc(n.Children, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
	if err := dm.Validate(); err != nil {
		return fmt.Errorf("content: build %s: %w", n.Rel, err)
	}
	slices.SortFunc(dm.Entries, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	n.Dir = dm
	n.ID = dm.ID()
	n.Size = dm.Size()
	n.ModTime = n.info.ModTime()
	return nil
}
