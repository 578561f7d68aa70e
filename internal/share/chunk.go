package share

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/content"
)

// maxChunkCandidates bounds how many shared copies of one chunk Chunk tries.
const maxChunkCandidates = 8

// Chunk reads chunk id from a shared file holding it, into buf if buf is
// large enough, and returns the bytes only after checking them against id.
// If the file changed on disk since it was indexed the bytes are refused:
// the share is scheduled for re-index and, when no other copy verifies, the
// error wraps [content.ErrHashMismatch]. It returns an error wrapping
// [ErrNotFound] when no shared file holds id or none can be read.
func (s *Service) Chunk(ctx context.Context, id cid.Cid, buf []byte) ([]byte, error) {
	if !content.IsChunk(id) {
		return nil, fmt.Errorf("%w: %s is not a chunk id", ErrNotFound, id)
	}
	digest, err := content.Digest(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	st, err := s.db.Prepared(ctx, `SELECT r.id, r.path, r.root_cid, f.rel_path, c.idx, f.size, f.chunk_size, f.file_dev, f.file_ino
		FROM share_chunks c JOIN share_files f ON f.id = c.file_id JOIN share_roots r ON r.id = f.share_id
		WHERE c.key = ? LIMIT ?`)
	if err != nil {
		return nil, fmt.Errorf("share: chunk %s: %w", id, err)
	}
	rows, err := st.QueryContext(ctx, chunkKey(digest[:]), maxChunkCandidates)
	if err != nil {
		return nil, fmt.Errorf("share: chunk %s: %w", id, err)
	}
	type candidate struct {
		shareID   int64
		root, rel string
		off, n    int64
		fid       content.FileID
	}
	var cands []candidate
	for rows.Next() {
		var c candidate
		var idx, size, chunkSize, dev, ino int64
		var rootCID string
		if err := rows.Scan(&c.shareID, &c.root, &rootCID, &c.rel, &idx, &size, &chunkSize, &dev, &ino); err != nil {
			rows.Close()
			return nil, fmt.Errorf("share: chunk %s: %w", id, err)
		}
		if !s.mayRead(ctx, c.root, rootCID) {
			continue // a private share this peer may not read
		}
		c.fid = content.FileID{Dev: uint64(dev), Ino: uint64(ino)}
		c.off = idx * chunkSize
		c.n = min(chunkSize, size-c.off)
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("share: chunk %s: %w", id, err)
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: chunk %s", ErrNotFound, id)
	}
	var errs []error
	mismatch := false
	for _, c := range cands {
		if c.n < 0 || c.n > content.MaxChunkSize {
			continue
		}
		if int64(cap(buf)) < c.n {
			buf = make([]byte, c.n)
		}
		data := buf[:c.n]
		path := c.root
		if c.rel != "" {
			path = filepath.Join(c.root, filepath.FromSlash(c.rel))
		}
		err := readShared(c.root, c.rel, c.fid, data, c.off)
		if err == nil {
			err = content.Verify(id, data)
		}
		if err == nil {
			return data, nil
		}
		if errors.Is(err, content.ErrHashMismatch) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, os.ErrNotExist) ||
			errors.Is(err, content.ErrFileChanged) || errors.Is(err, content.ErrNotInside) {
			mismatch = mismatch || errors.Is(err, content.ErrHashMismatch)
			// Logged at debug: a busy peer may ask for many chunks of one
			// changed file; the re-index (at most one per debounce period)
			// logs what it finds.
			s.log.Debug("share: shared file changed on disk, re-indexing", "path", path, "chunk", id, "err", err)
			s.markDirty(c.shareID, s.cfg.WatchDebounce, c.rel)
		}
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
	}
	if mismatch {
		return nil, fmt.Errorf("share: chunk %s: %w", id, errors.Join(errs...))
	}
	return nil, fmt.Errorf("%w: chunk %s: %w", ErrNotFound, id, errors.Join(errs...))
}

// readShared reads len(data) bytes at off from the file rel of the share at
// root (rel "" for a shared file), through a descriptor it checks first:
// opened with [content.OpenInside], so no link leads it out of the shared
// folder, and whose identity must be want, the file that was hashed. A file
// that is not the one indexed (a link re-pointed, a file renamed over) is
// refused with an error wrapping [content.ErrFileChanged], before a byte of
// it is read; the caller schedules a re-index.
func readShared(root, rel string, want content.FileID, data []byte, off int64) error {
	var (
		f    *os.File
		info os.FileInfo
		err  error
	)
	if rel == "" {
		// A shared file: its path is the one the user chose.
		if f, err = os.Open(root); err == nil {
			if info, err = f.Stat(); err != nil {
				f.Close()
			}
		}
	} else {
		var r *os.Root
		if r, err = os.OpenRoot(root); err == nil {
			f, info, err = content.OpenInside(r, rel)
			r.Close()
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if got, ok := content.FileIDOf(info); ok && got != want {
		return fmt.Errorf("%w: another file than the one indexed (identity %v, indexed %v)", content.ErrFileChanged, got, want)
	}
	n, err := f.ReadAt(data, off)
	if n == len(data) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// maxChunkOwners bounds the files ChunkFiles returns.
const maxChunkOwners = 64

// ChunkFiles returns the ids of the shared files that hold chunk id (at
// most 64; the lookup is by the digest's 64-bit key, so a rare collision
// may add a file that does not). The node's content policy uses it to
// refuse the chunks of a refused file.
func (s *Service) ChunkFiles(ctx context.Context, id cid.Cid) ([]cid.Cid, error) {
	digest, err := content.Digest(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT f.cid FROM share_chunks c JOIN share_files f ON f.id = c.file_id
		WHERE c.key = ? LIMIT ?`, chunkKey(digest[:]), maxChunkOwners)
	if err != nil {
		return nil, fmt.Errorf("share: chunk %s: %w", id, err)
	}
	defer rows.Close()
	var out []cid.Cid
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("share: chunk %s: %w", id, err)
		}
		if c, err := cid.Decode(s); err == nil {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}
