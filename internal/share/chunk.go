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
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.path, f.rel_path, c.idx, f.size, f.chunk_size
		FROM share_chunks c JOIN share_files f ON f.id = c.file_id JOIN share_roots r ON r.id = f.share_id
		WHERE c.key = ? LIMIT ?`, chunkKey(digest[:]), maxChunkCandidates)
	if err != nil {
		return nil, fmt.Errorf("share: chunk %s: %w", id, err)
	}
	type candidate struct {
		shareID   int64
		root, rel string
		off, n    int64
	}
	var cands []candidate
	for rows.Next() {
		var c candidate
		var idx, size, chunkSize int64
		if err := rows.Scan(&c.shareID, &c.root, &c.rel, &idx, &size, &chunkSize); err != nil {
			rows.Close()
			return nil, fmt.Errorf("share: chunk %s: %w", id, err)
		}
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
		err := readAt(path, data, c.off)
		if err == nil {
			err = content.Verify(id, data)
		}
		if err == nil {
			return data, nil
		}
		if errors.Is(err, content.ErrHashMismatch) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, os.ErrNotExist) {
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

func readAt(path string, data []byte, off int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := f.ReadAt(data, off)
	if n == len(data) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
