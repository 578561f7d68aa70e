package transfer

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/store"
)

// chunkLog durably records which chunks of one download are verified and
// written. Callers fsync the data file before calling record, so a recorded
// chunk is always on disk; losing a record only costs a re-fetch.
type chunkLog interface {
	// load returns the recorded chunk indices. A record for another
	// manifest (the same output path reused) is discarded first.
	load(ctx context.Context) ([]int, error)
	// record adds indices to the record.
	record(ctx context.Context, idx []int) error
	// remove deletes the record (after the download completed).
	remove(ctx context.Context) error
	// close releases resources; the record stays.
	close() error
}

// openChunkLog returns the durable record for the download at part of
// manifest id: a SQLite table when db is set, else a sidecar file.
func openChunkLog(ctx context.Context, db *store.DB, part string, id cid.Cid) (chunkLog, error) {
	if db != nil {
		abs, err := filepath.Abs(part)
		if err != nil {
			return nil, errorf("record %s: %w", part, err)
		}
		return &dbLog{db: db, part: abs, id: id.String()}, nil
	}
	return openFileLog(part+stateSuffix, id)
}

// Sidecar format: a header "PPXFER1\n", one byte L and the L bytes of the
// manifest's binary CID; then 8-byte records, each a little-endian uint32
// chunk index and the CRC-32 (IEEE) of those 4 bytes, so a torn or garbage
// tail is detected and ignored.
const fileLogMagic = "PPXFER1\n"

type fileLog struct {
	path string
	f    *os.File
	id   cid.Cid
	good int64 // offset after the last valid record
}

func openFileLog(path string, id cid.Cid) (*fileLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, errorf("record: %w", err)
	}
	return &fileLog{path: path, f: f, id: id}, nil
}

func (l *fileLog) header() []byte {
	raw := l.id.Bytes()
	h := append([]byte(fileLogMagic), byte(len(raw)))
	return append(h, raw...)
}

func (l *fileLog) load(ctx context.Context) ([]int, error) {
	data, err := io.ReadAll(l.f)
	if err != nil {
		return nil, errorf("record %s: %w", l.path, err)
	}
	idx, good, ok := parseFileLog(data, l.header())
	if !ok {
		// Missing, foreign or corrupt header: start a fresh record.
		if err := l.f.Truncate(0); err != nil {
			return nil, errorf("record %s: %w", l.path, err)
		}
		h := l.header()
		if _, err := l.f.WriteAt(h, 0); err != nil {
			return nil, errorf("record %s: %w", l.path, err)
		}
		if err := l.f.Sync(); err != nil {
			return nil, errorf("record %s: %w", l.path, err)
		}
		l.good = int64(len(h))
		return nil, nil
	}
	l.good = good
	if good != int64(len(data)) {
		// Drop a torn tail so new records follow valid ones.
		if err := l.f.Truncate(good); err != nil {
			return nil, errorf("record %s: %w", l.path, err)
		}
	}
	return idx, nil
}

// parseFileLog parses a sidecar record; ok is false when the header does not
// match want.
func parseFileLog(data, want []byte) (idx []int, good int64, ok bool) {
	if !bytes.HasPrefix(data, want) {
		return nil, 0, false
	}
	off := len(want)
	for off+8 <= len(data) {
		rec := data[off : off+8]
		if crc32.ChecksumIEEE(rec[:4]) != binary.LittleEndian.Uint32(rec[4:]) {
			break
		}
		idx = append(idx, int(binary.LittleEndian.Uint32(rec[:4])))
		off += 8
	}
	return idx, int64(off), true
}

func (l *fileLog) record(ctx context.Context, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	buf := make([]byte, 0, 8*len(idx))
	for _, i := range idx {
		var rec [8]byte
		binary.LittleEndian.PutUint32(rec[:4], uint32(i))
		binary.LittleEndian.PutUint32(rec[4:], crc32.ChecksumIEEE(rec[:4]))
		buf = append(buf, rec[:]...)
	}
	if _, err := l.f.WriteAt(buf, l.good); err != nil {
		return errorf("record %s: %w", l.path, err)
	}
	l.good += int64(len(buf))
	return nil
}

func (l *fileLog) remove(ctx context.Context) error {
	l.f.Close()
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return errorf("record %s: %w", l.path, err)
	}
	return nil
}

func (l *fileLog) close() error {
	if err := l.f.Sync(); err != nil {
		l.f.Close()
		return errorf("record %s: %w", l.path, err)
	}
	return l.f.Close()
}

// dbMigrations create the download record tables of component "transfer".
var dbMigrations = []store.Migration{{Version: 1, SQL: `
CREATE TABLE transfer_downloads (
	part     TEXT PRIMARY KEY,
	manifest TEXT NOT NULL,
	started  INTEGER NOT NULL
);
CREATE TABLE transfer_chunks (
	part TEXT NOT NULL REFERENCES transfer_downloads(part) ON DELETE CASCADE,
	idx  INTEGER NOT NULL,
	PRIMARY KEY (part, idx)
) WITHOUT ROWID;`}}

type dbLog struct {
	db   *store.DB
	part string
	id   string
}

func (l *dbLog) load(ctx context.Context) ([]int, error) {
	if err := l.db.Migrate(ctx, "transfer", dbMigrations); err != nil {
		return nil, errorf("record: %w", err)
	}
	var have string
	err := l.db.QueryRowContext(ctx, `SELECT manifest FROM transfer_downloads WHERE part = ?`, l.part).Scan(&have)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, errorf("record: %w", err)
	}
	if have != l.id {
		if err := l.remove(ctx); err != nil {
			return nil, err
		}
		if _, err := l.db.ExecContext(ctx, `INSERT INTO transfer_downloads(part, manifest, started) VALUES (?, ?, ?)`,
			l.part, l.id, time.Now().Unix()); err != nil {
			return nil, errorf("record: %w", err)
		}
		return nil, nil
	}
	rows, err := l.db.QueryContext(ctx, `SELECT idx FROM transfer_chunks WHERE part = ?`, l.part)
	if err != nil {
		return nil, errorf("record: %w", err)
	}
	defer rows.Close()
	var idx []int
	for rows.Next() {
		var i int
		if err := rows.Scan(&i); err != nil {
			return nil, errorf("record: %w", err)
		}
		idx = append(idx, i)
	}
	if err := rows.Err(); err != nil {
		return nil, errorf("record: %w", err)
	}
	return idx, nil
}

func (l *dbLog) record(ctx context.Context, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return errorf("record: %w", err)
	}
	defer tx.Rollback()
	for _, i := range idx {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO transfer_chunks(part, idx) VALUES (?, ?)`, l.part, i); err != nil {
			return errorf("record: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return errorf("record: %w", err)
	}
	return nil
}

func (l *dbLog) remove(ctx context.Context) error {
	if _, err := l.db.ExecContext(ctx, `DELETE FROM transfer_chunks WHERE part = ?`, l.part); err != nil {
		return errorf("record: %w", err)
	}
	if _, err := l.db.ExecContext(ctx, `DELETE FROM transfer_downloads WHERE part = ?`, l.part); err != nil {
		return errorf("record: %w", err)
	}
	return nil
}

func (l *dbLog) close() error { return nil }

// syncDir fsyncs a directory, so a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
