package backup

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/restic/chunker"
	"github.com/zeebo/blake3"
)

// decodeManifest decodes and checks a manifest: every path is a local,
// relative path (nothing can name a file outside the restore folder),
// every size adds up, every hash is a BLAKE3 hash.
func decodeManifest(raw []byte) (Manifest, error) {
	var m Manifest
	if len(raw) > MaxManifest {
		return m, fmt.Errorf("%w: %d bytes", ErrBadManifest, len(raw))
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	if m.Version != 1 {
		return Manifest{}, fmt.Errorf("%w: version %d", ErrBadManifest, m.Version)
	}
	seen := map[string]bool{}
	for _, d := range m.Dirs {
		if err := checkPath(d); err != nil {
			return Manifest{}, err
		}
	}
	for _, f := range m.Files {
		if err := checkPath(f.Path); err != nil {
			return Manifest{}, err
		}
		if seen[f.Path] {
			return Manifest{}, fmt.Errorf("%w: %q twice", ErrBadManifest, f.Path)
		}
		seen[f.Path] = true
		var sum int64
		for _, c := range f.Chunks {
			if c.Size <= 0 || c.Size > chunker.MaxSize || !isHash(c.Hash) || c.Ref == "" {
				return Manifest{}, fmt.Errorf("%w: a chunk of %q", ErrBadManifest, f.Path)
			}
			sum += int64(c.Size)
		}
		if sum != f.Size || !isHash(f.Hash) {
			return Manifest{}, fmt.Errorf("%w: sizes or hash of %q", ErrBadManifest, f.Path)
		}
	}
	return m, nil
}

func isHash(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

func checkPath(p string) error {
	if len(p) == 0 || len(p) > maxPath || strings.ContainsRune(p, 0) || strings.Contains(p, `\`) ||
		!filepath.IsLocal(filepath.FromSlash(p)) || p != filepath.ToSlash(filepath.Clean(filepath.FromSlash(p))) {
		return fmt.Errorf("%w: unsafe path %q", ErrBadManifest, p)
	}
	return nil
}

// RestoreResult is what [Service.Restore] wrote.
type RestoreResult struct {
	Snapshot string `json:"snapshot"`
	Name     string `json:"name"`
	Files    int    `json:"files"`
	Bytes    int64  `json:"bytes"`
	// Skipped counts files already present and whole (a resumed restore).
	Skipped int    `json:"skipped"`
	Output  string `json:"output"`
}

// RestoreOptions configures [Service.Restore].
type RestoreOptions struct {
	// Progress, if set, is told the bytes restored so far and the total.
	Progress func(done, total int64)
}

// Restore writes a snapshot, named by this node's snapshot id or by its
// capability string, into out (absolute). Every chunk is checked against
// its hash and every file against its own; a file is written as
// NAME.part and renamed when whole, so a restore killed halfway resumes:
// files already whole are kept.
func (s *Service) Restore(ctx context.Context, what, out string, opt RestoreOptions) (RestoreResult, error) {
	capStr := strings.TrimSpace(what)
	if !strings.HasPrefix(capStr, CapPrefix) {
		c, _, err := s.local(ctx, capStr)
		if err != nil {
			return RestoreResult{}, fmt.Errorf("%w (%w)", ErrBadCap, err)
		}
		capStr = c
	}
	if !filepath.IsAbs(out) {
		return RestoreResult{}, fmt.Errorf("%w: %s is not an absolute path", ErrInvalid, out)
	}
	raw, err := s.cfg.Store.Get(ctx, strings.TrimPrefix(capStr, CapPrefix))
	if err != nil {
		return RestoreResult{}, fmt.Errorf("backup: fetch manifest: %w", err)
	}
	m, err := decodeManifest(raw)
	if err != nil {
		return RestoreResult{}, err
	}
	res := RestoreResult{Snapshot: snapshotID(capStr), Name: m.Name, Output: out}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	for _, d := range m.Dirs {
		p, err := safeJoin(out, d)
		if err != nil {
			return res, err
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return res, fmt.Errorf("backup: %w", err)
		}
	}
	var total, done int64
	for _, f := range m.Files {
		total += f.Size
	}
	for _, f := range m.Files {
		p, err := safeJoin(out, f.Path)
		if err != nil {
			return res, err
		}
		if whole(p, f) {
			res.Skipped++
		} else if err := s.restoreFile(ctx, p, f, func(n int) {
			done += int64(n)
			if opt.Progress != nil {
				opt.Progress(done, total)
			}
		}); err != nil {
			return res, err
		}
		res.Files++
		res.Bytes += f.Size
	}
	return res, nil
}

// safeJoin joins a checked relative path to out, refusing a path whose
// existing parents include a symbolic link (which could lead outside out).
func safeJoin(out, rel string) (string, error) {
	if err := checkPath(rel); err != nil {
		return "", err
	}
	p := out
	parts := strings.Split(rel, "/")
	for i, part := range parts {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.Mode()&fs.ModeSymlink != 0 || (i < len(parts)-1 && !fi.IsDir()) {
			return "", fmt.Errorf("%w: %s is in the way", ErrInvalid, p)
		}
	}
	return p, nil
}

// whole reports whether p already holds f's content.
func whole(p string, f File) bool {
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != f.Size {
		return false
	}
	fh, err := os.Open(p)
	if err != nil {
		return false
	}
	defer fh.Close()
	h := blake3.New()
	if _, err := io.Copy(h, fh); err != nil {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == f.Hash
}

// restoreFile fetches f's chunks (four at a time), checks each, and
// writes them in order to p.part, then renames.
func (s *Service) restoreFile(ctx context.Context, p string, f File, progress func(int)) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	part := p + ".part"
	fh, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(part)
	defer fh.Close()
	h := blake3.New()
	const ahead = 4
	for lo := 0; lo < len(f.Chunks); lo += ahead {
		batch := f.Chunks[lo:min(lo+ahead, len(f.Chunks))]
		data := make([][]byte, len(batch))
		errs := make([]error, len(batch))
		var wg sync.WaitGroup
		for i, c := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data[i], errs[i] = s.chunk(ctx, c)
			}()
		}
		wg.Wait()
		for i := range batch {
			if errs[i] != nil {
				return fmt.Errorf("backup: %s: %w", f.Path, errs[i])
			}
			h.Write(data[i])
			if _, err := fh.Write(data[i]); err != nil {
				return fmt.Errorf("backup: write %s: %w", p, err)
			}
			progress(len(data[i]))
		}
	}
	if hex.EncodeToString(h.Sum(nil)) != f.Hash {
		return fmt.Errorf("%w: %s does not match its hash", ErrBadManifest, f.Path)
	}
	if err := fh.Sync(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Chmod(part, fs.FileMode(f.Mode)&fs.ModePerm); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	mt := time.Unix(f.MTime, 0)
	_ = os.Chtimes(part, mt, mt)
	if err := os.Rename(part, p); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// chunk fetches one chunk and checks it against the manifest.
func (s *Service) chunk(ctx context.Context, c Chunk) ([]byte, error) {
	b, err := s.cfg.Store.Get(ctx, c.Ref)
	if err != nil {
		return nil, err
	}
	sum := blake3.Sum256(b)
	want, _ := hex.DecodeString(c.Hash)
	if len(b) != c.Size || !bytes.Equal(sum[:], want) {
		return nil, fmt.Errorf("%w: a chunk does not match its hash", ErrBadManifest)
	}
	return b, nil
}
