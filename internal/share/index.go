package share

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/content"
)

// loadFiles returns the catalog rows of the share at abs, by rel path.
func (s *Service) loadFiles(ctx context.Context, abs string) (map[string]*fileRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT f.rel_path, f.id, f.is_dir, f.size, f.mtime_ns, f.file_dev, f.file_ino, f.cid
		FROM share_files f JOIN share_roots r ON r.id = f.share_id WHERE r.path = ?`, abs)
	if err != nil {
		return nil, fmt.Errorf("share: load files: %w", err)
	}
	defer rows.Close()
	out := make(map[string]*fileRow)
	for rows.Next() {
		var rel string
		r := &fileRow{}
		var dev, ino int64
		if err := rows.Scan(&rel, &r.id, &r.isDir, &r.size, &r.mtime, &dev, &ino, &r.cid); err != nil {
			return nil, fmt.Errorf("share: load files: %w", err)
		}
		r.fid = content.FileID{Dev: uint64(dev), Ino: uint64(ino)}
		out[rel] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("share: load files: %w", err)
	}
	return out, nil
}

func (s *Service) loadFileManifest(ctx context.Context, id string) (*content.FileManifest, error) {
	var data []byte
	st, err := s.db.Prepared(ctx, qManifest)
	if err == nil {
		err = st.QueryRowContext(ctx, id).Scan(&data)
	}
	if err != nil {
		return nil, fmt.Errorf("share: manifest %s: %w", id, err)
	}
	return content.DecodeFileManifest(data)
}

// racyWindow covers the coarse granularity of file modification times: a
// file modified this close to (or after) the start of its hashing may be
// modified again with the same mtime, so its recorded mtime is not trusted
// (see storeLocked).
const racyWindow = 100 * time.Millisecond

// qManifest reads a stored manifest (a prepared statement: see
// store.DB.Prepared).
const qManifest = `SELECT data FROM share_manifests WHERE cid = ?`

// storeLocked writes tree as the catalog of the share at abs in one
// transaction, touching only rows that changed, then queues announcements
// of new ids. The caller holds indexMu; existing are the share's rows as
// loaded under that lock. Files modified after racyAfter (unless it is
// zero) are recorded with mtime -1, so the next re-index hashes them again
// instead of trusting an mtime that a later write might not change (the
// "racy git" problem).
func (s *Service) storeLocked(ctx context.Context, abs string, tree *content.Node, downloaded bool, existing map[string]*fileRow, racyAfter time.Time) (Share, error) {
	fail := func(err error) (Share, error) { return Share{}, fmt.Errorf("share: store %s: %w", abs, err) }
	now := time.Now().UnixNano()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()

	var (
		shareID int64
		oldRoot string
	)
	// The old root id tells whether the root must be announced again.
	_ = tx.QueryRowContext(ctx, `SELECT root_cid FROM share_roots WHERE path = ?`, abs).Scan(&oldRoot)
	err = tx.QueryRowContext(ctx, `INSERT INTO share_roots (`+shareCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (path) DO UPDATE SET name = excluded.name, root_cid = excluded.root_cid,
			is_dir = excluded.is_dir, size = excluded.size, files = excluded.files,
			downloaded = share_roots.downloaded OR excluded.downloaded, indexed_ns = excluded.indexed_ns
		RETURNING id`,
		abs, tree.Name, tree.ID.String(), tree.Dir != nil, tree.Size, tree.Files(), downloaded, now, now).Scan(&shareID)
	if err != nil {
		return fail(err)
	}

	insFile, err := tx.PrepareContext(ctx, `INSERT INTO share_files (share_id, rel_path, name, is_dir, size, mtime_ns, chunk_size, cid, file_dev, file_ino)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return fail(err)
	}
	defer insFile.Close()
	insChunks, err := tx.PrepareContext(ctx, chunkInsertSQL(chunkBatch))
	if err != nil {
		return fail(err)
	}
	defer insChunks.Close()
	insManifest, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO share_manifests (cid, data) VALUES (?, ?)`)
	if err != nil {
		return fail(err)
	}
	defer insManifest.Close()

	var (
		fresh []cid.Cid
		gone  []string // ids no longer referenced by their old row
	)
	seen := make(map[string]bool)
	err = tree.Walk(func(n *content.Node) error {
		seen[n.Rel] = true
		id := n.ID.String()
		isDir := n.Dir != nil
		mtime := n.ModTime.UnixNano()
		if n.File != nil && !racyAfter.IsZero() && n.ModTime.After(racyAfter) {
			mtime = -1
		}
		ex := existing[n.Rel]
		if ex != nil && ex.isDir == isDir && ex.cid == id {
			if ex.size != n.Size || ex.mtime != mtime || ex.fid != n.FileID {
				if _, err := tx.ExecContext(ctx, `UPDATE share_files SET size = ?, mtime_ns = ?, file_dev = ?, file_ino = ? WHERE id = ?`,
					n.Size, mtime, int64(n.FileID.Dev), int64(n.FileID.Ino), ex.id); err != nil {
					return err
				}
			}
			return nil
		}
		if ex != nil {
			gone = append(gone, ex.cid)
		}
		if ex != nil && isDir && ex.isDir {
			if _, err := tx.ExecContext(ctx, `UPDATE share_files SET size = ?, mtime_ns = ?, cid = ? WHERE id = ?`, n.Size, mtime, id, ex.id); err != nil {
				return err
			}
		} else {
			if ex != nil {
				if _, err := tx.ExecContext(ctx, `DELETE FROM share_files WHERE id = ?`, ex.id); err != nil {
					return err
				}
			}
			var fileID int64
			chunkSize := 0
			if n.File != nil {
				chunkSize = n.File.ChunkSize
			}
			if err := insFile.QueryRowContext(ctx, shareID, n.Rel, n.Name, isDir, n.Size, mtime, chunkSize, id,
				int64(n.FileID.Dev), int64(n.FileID.Ino)).Scan(&fileID); err != nil {
				return err
			}
			if n.File != nil {
				if err := insertChunks(ctx, tx, insChunks, fileID, n.File.Chunks); err != nil {
					return err
				}
			}
		}
		var data []byte
		if n.File != nil {
			data = n.File.Encode()
		} else {
			data = n.Dir.Encode()
		}
		if _, err := insManifest.ExecContext(ctx, id, data); err != nil {
			return err
		}
		if n.Rel != "" {
			fresh = append(fresh, n.ID)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	for rel, ex := range existing {
		if !seen[rel] {
			if _, err := tx.ExecContext(ctx, `DELETE FROM share_files WHERE id = ?`, ex.id); err != nil {
				return fail(err)
			}
			gone = append(gone, ex.cid)
		}
	}
	for _, id := range gone {
		if _, err := tx.ExecContext(ctx, `DELETE FROM share_manifests WHERE cid = ?1
			AND NOT EXISTS (SELECT 1 FROM share_files WHERE cid = ?1)`, id); err != nil {
			return fail(err)
		}
	}
	sh, err := scanShare(tx.QueryRowContext(ctx, `SELECT `+shareCols+` FROM share_roots WHERE id = ?`, shareID))
	if err != nil {
		return fail(err)
	}
	if s.isPrivate(abs) {
		s.privateRoots.Store(true) // before any reader can see its rows
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}

	s.mu.Lock()
	s.roots[shareID] = rootInfo{path: abs, isDir: tree.Dir != nil}
	s.mu.Unlock()
	signal(s.wakeW)
	if !s.isPrivate(abs) {
		if oldRoot != sh.CID {
			s.ann.push(tree.ID, true)
		}
		for _, id := range fresh {
			s.ann.push(id, false)
		}
	}
	s.log.Info("share: indexed", "path", abs, "cid", sh.CID, "files", sh.Files, "size", sh.Size)
	return sh, nil
}

// chunkBatch is how many chunk rows one INSERT writes; batching makes
// indexing a large file several times faster than one statement per row.
const chunkBatch = 256

func chunkInsertSQL(rows int) string {
	return "INSERT INTO share_chunks (file_id, idx, key) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", rows), ", ")
}

// chunkKey is the catalog's lookup key of a chunk: the first 8 bytes of its
// digest. Callers must verify the chunk against its full id.
func chunkKey(digest []byte) int64 {
	return int64(binary.BigEndian.Uint64(digest[:8]))
}

func insertChunks(ctx context.Context, tx *sql.Tx, full *sql.Stmt, fileID int64, chunks []cid.Cid) error {
	args := make([]any, 0, 3*chunkBatch)
	for start := 0; start < len(chunks); start += chunkBatch {
		end := min(start+chunkBatch, len(chunks))
		args = args[:0]
		for i := start; i < end; i++ {
			args = append(args, fileID, i, chunkKey(chunks[i].Hash()[2:]))
		}
		var err error
		if end-start == chunkBatch {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, chunkInsertSQL(end-start), args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
