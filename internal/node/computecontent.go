package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/transfer"
)

// Limits of the cache of content fetched for compute.
const (
	computeCacheFiles = 64
	computeCacheBytes = 256 << 20
	// computeFetchTimeout bounds how long one fetch goes without progress.
	computeFetchTimeout = 30 * time.Second
	// computePartialTTL is how long a failed fetch's partial data stays in
	// the cache for a retry to resume from.
	computePartialTTL = time.Hour
)

// computeContent implements compute.Content over the share and transfer
// services, so job modules, inputs and large outputs travel as any shared
// file does: by content id, in chunks verified on arrival, from every peer
// that holds them.
//
// What the node publishes lives in HOME/compute/blobs/KEY, shared in place
// (the share catalog is in the database, so it is still served after a
// restart). What it fetches lands in HOME/compute/cache/CID and is seeded
// like any download (unless no_seed is set), so the next worker may fetch
// it from this one; the cache keeps the computeCacheFiles newest files, up
// to computeCacheBytes. A content id the node already holds (its
// own published content, or the cache) is read from the share catalog,
// chunk by verified chunk, with no network.
type computeContent struct {
	share    *share.Service
	transfer *transfer.Service
	blobs    string
	cache    string
	self     peer.ID

	mu       sync.Mutex
	inflight map[string]chan struct{} // fetches under way, by content id
}

// computeDir is HOME/compute, absolute (as the share catalog keeps paths).
func (n *Node) computeDir() string {
	dir := filepath.Join(string(n.home), "compute")
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir
}

func newComputeContent(n *Node) (*computeContent, error) {
	c := &computeContent{
		share: n.share, transfer: n.transfer, self: n.ID(),
		blobs:    filepath.Join(n.computeDir(), "blobs"),
		cache:    filepath.Join(n.computeDir(), "cache"),
		inflight: map[string]chan struct{}{},
	}
	for _, d := range []string{c.blobs, c.cache} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("node: compute content: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.evict(ctx) // partial data of fetches a stop cut short
	return c, nil
}

// validKey mirrors compute.ValidContentKey (kept here so a key can never
// name a path outside the blobs folder, whatever compute passes).
func validKey(key string) bool {
	if key == "" || len(key) > 100 {
		return false
	}
	for _, r := range key {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func (c *computeContent) Publish(ctx context.Context, key string, data []byte) (string, error) {
	if !validKey(key) {
		return "", fmt.Errorf("node: compute content: bad key %q", key)
	}
	path := filepath.Join(c.blobs, key)
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return "", fmt.Errorf("node: compute content: %w", err)
	}
	sh, err := c.share.Add(ctx, path)
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("node: compute content: %w", err)
	}
	return sh.CID, nil
}

func (c *computeContent) Unpublish(ctx context.Context, key string) error {
	if !validKey(key) {
		return fmt.Errorf("node: compute content: bad key %q", key)
	}
	path := filepath.Join(c.blobs, key)
	if err := c.share.Remove(ctx, path); err != nil && !errors.Is(err, share.ErrNotShared) {
		return fmt.Errorf("node: compute content: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("node: compute content: %w", err)
	}
	return nil
}

func (c *computeContent) Keys(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(c.blobs)
	if err != nil {
		return nil, fmt.Errorf("node: compute content: %w", err)
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if validKey(name) && e.Type().IsRegular() {
			out = append(out, name)
			continue
		}
		// A temporary file left by a crash while publishing.
		if info, err := e.Info(); err == nil && strings.Contains(name, ".tmp") && time.Since(info.ModTime()) > time.Hour {
			os.Remove(filepath.Join(c.blobs, name))
		}
	}
	return out, nil
}

// Fetch returns the bytes of the file content idStr (size bytes): from this
// node's catalog when it holds them, otherwise downloaded from from and any
// other provider. The manifest is asked of from first (then of the other
// providers, should from be gone), and its size checked, before any chunk
// is downloaded.
func (c *computeContent) Fetch(ctx context.Context, idStr string, size int64, from peer.ID) ([]byte, error) {
	id, err := cid.Decode(idStr)
	if err != nil || !content.IsFile(id) {
		return nil, fmt.Errorf("node: compute content: %q is not a file content id", idStr)
	}
	if size < 0 {
		return nil, fmt.Errorf("node: compute content: negative size %d", size)
	}
	// One fetch of an id at a time: the others wait and then find it in
	// the cache.
	for {
		c.mu.Lock()
		ch, busy := c.inflight[idStr]
		if !busy {
			ch = make(chan struct{})
			c.inflight[idStr] = ch
		}
		c.mu.Unlock()
		if !busy {
			defer func() {
				c.mu.Lock()
				delete(c.inflight, idStr)
				c.mu.Unlock()
				close(ch)
			}()
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if data, ok, err := c.local(ctx, id, size); ok || err != nil {
		return data, err
	}
	if from == c.self {
		return nil, fmt.Errorf("node: compute content: %s is not held by this node", id)
	}
	raw, err := c.transfer.FetchManifestAny(ctx, id, from)
	if err != nil {
		return nil, fmt.Errorf("node: compute content: %w", err)
	}
	if err := checkSize(id, raw, size); err != nil {
		return nil, err
	}
	out := filepath.Join(c.cache, id.String())
	_, err = c.transfer.Get(ctx, id, transfer.GetOptions{Output: out, Timeout: computeFetchTimeout})
	if errors.Is(err, transfer.ErrExists) {
		// A cached file that no longer verifies: fetch it again.
		c.drop(ctx, out)
		_, err = c.transfer.Get(ctx, id, transfer.GetOptions{Output: out, Timeout: computeFetchTimeout})
	}
	if err != nil {
		return nil, fmt.Errorf("node: compute content: %w", err)
	}
	data, err := readExactly(out, size)
	if err != nil {
		return nil, err
	}
	c.evict(ctx)
	return data, nil
}

// local reads id from the share catalog when the node holds it. ok is
// false when it does not (or its copy cannot be read).
func (c *computeContent) local(ctx context.Context, id cid.Cid, size int64) (data []byte, ok bool, err error) {
	raw, err := c.share.Manifest(ctx, id)
	if err != nil {
		return nil, false, nil
	}
	if err := checkSize(id, raw, size); err != nil {
		return nil, false, err
	}
	m, _ := content.DecodeFileManifest(raw)
	data = make([]byte, 0, size)
	for i, ch := range m.Chunks {
		b, err := c.share.Chunk(ctx, ch, nil) // verified against ch
		if _, n := m.ChunkRange(i); err != nil || int64(len(b)) != n {
			return nil, false, nil
		}
		data = append(data, b...)
	}
	return data, true, nil
}

// checkSize checks that the manifest raw, verified against id, is a file
// manifest of size bytes.
func checkSize(id cid.Cid, raw []byte, size int64) error {
	v, err := content.Decode(id, raw)
	if err != nil {
		return fmt.Errorf("node: compute content: %w", err)
	}
	m, ok := v.(*content.FileManifest)
	if !ok {
		return fmt.Errorf("node: compute content: %s is not a file", id)
	}
	if m.Size != size {
		return fmt.Errorf("node: compute content: %s is %d bytes, expected %d", id, m.Size, size)
	}
	return nil
}

func readExactly(path string, size int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("node: compute content: %w", err)
	}
	defer f.Close()
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("node: compute content: reading %s: %w", path, err)
	}
	return data, nil
}

// drop stops seeding a cached file and deletes it.
func (c *computeContent) drop(ctx context.Context, path string) {
	if err := c.share.Remove(ctx, path); err != nil && !errors.Is(err, share.ErrNotShared) {
		return // still served: keep the file
	}
	os.Remove(path)
}

// evict keeps the cache within its limits, dropping the oldest files
// first. (Touching a file on use would make the share catalog hash it
// again, so age is time since download.)
func (c *computeContent) evict(ctx context.Context) {
	ents, err := os.ReadDir(c.cache)
	if err != nil {
		return
	}
	type file struct {
		path string
		size int64
		age  time.Time
	}
	var files []file
	var total int64
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if name, partial := partialOf(e.Name()); partial {
			// Left by a fetch that failed and was never retried: a
			// retry within computePartialTTL resumes from it.
			c.mu.Lock()
			_, busy := c.inflight[name]
			c.mu.Unlock()
			if !busy && time.Since(info.ModTime()) > computePartialTTL {
				os.Remove(filepath.Join(c.cache, e.Name()))
			}
			continue
		}
		files = append(files, file{filepath.Join(c.cache, e.Name()), info.Size(), info.ModTime()})
		total += info.Size()
	}
	slices.SortFunc(files, func(a, b file) int { return a.age.Compare(b.age) })
	for len(files) > computeCacheFiles || (total > computeCacheBytes && len(files) > 1) {
		c.drop(ctx, files[0].path)
		total -= files[0].size
		files = files[1:]
	}
}

// partialOf reports whether name is a partial download's file (ID.part or
// ID.part.state), and of which id.
func partialOf(name string) (id string, ok bool) {
	if id, ok := strings.CutSuffix(name, ".part.state"); ok {
		return id, true
	}
	return strings.CutSuffix(name, ".part")
}

// publicCatalog is the share catalog without the node's compute content:
// job modules, inputs and outputs are shared for the workers and
// submitters that name them by id, not offered to searches.
type publicCatalog struct {
	share *share.Service
	dir   string // HOME/compute
}

func (p publicCatalog) Files(ctx context.Context) ([]share.FileEntry, error) {
	all, err := p.share.Files(ctx)
	if err != nil {
		return nil, err
	}
	prefix := p.dir + string(filepath.Separator)
	return slices.DeleteFunc(all, func(e share.FileEntry) bool { return strings.HasPrefix(e.Share, prefix) }), nil
}
