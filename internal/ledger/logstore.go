package ledger

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqliteStore is raft's LogStore and StableStore in one SQLite file (WAL,
// synchronous=FULL: an entry raft was told is stored survives a crash).
// raft-boltdb v2.3.1 does not build against go-metrics v0.7.0 (it imports
// go-metrics/compat, which that version dropped), and the node already
// embeds modernc.org/sqlite, so this is the on-disk store.
type sqliteStore struct {
	db *sql.DB
}

var (
	_ raft.LogStore    = (*sqliteStore)(nil)
	_ raft.StableStore = (*sqliteStore)(nil)
)

// errStableNotFound is what raft expects (compared by message) for a
// missing stable key.
var errStableNotFound = errors.New("not found")

const storeSchema = `
CREATE TABLE IF NOT EXISTS raft_log (
	idx INTEGER PRIMARY KEY,
	term INTEGER NOT NULL,
	type INTEGER NOT NULL,
	data BLOB,
	ext BLOB,
	appended_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS raft_kv (
	k BLOB PRIMARY KEY,
	v BLOB NOT NULL
);`

// openSQLiteStore opens (creating if needed) the store at path.
func openSQLiteStore(path string) (*sqliteStore, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: open raft store: %w", err)
	}
	db.SetMaxOpenConns(1) // one writer; raft serialises its own calls anyway
	if _, err := db.Exec(storeSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger: raft store schema: %w", err)
	}
	return &sqliteStore{db: db}, nil
}

// Close closes the database.
func (s *sqliteStore) Close() error { return s.db.Close() }

func (s *sqliteStore) index(q string) (uint64, error) {
	var v sql.NullInt64
	if err := s.db.QueryRow(q).Scan(&v); err != nil {
		return 0, fmt.Errorf("ledger: raft store: %w", err)
	}
	return uint64(v.Int64), nil
}

// FirstIndex returns the first index written, 0 for no entries.
func (s *sqliteStore) FirstIndex() (uint64, error) {
	return s.index(`SELECT MIN(idx) FROM raft_log`)
}

// LastIndex returns the last index written, 0 for no entries.
func (s *sqliteStore) LastIndex() (uint64, error) {
	return s.index(`SELECT MAX(idx) FROM raft_log`)
}

// GetLog reads the entry at index into log, or returns raft.ErrLogNotFound.
func (s *sqliteStore) GetLog(index uint64, log *raft.Log) error {
	var term, typ, at int64
	var data, ext []byte
	err := s.db.QueryRow(`SELECT term, type, data, ext, appended_at FROM raft_log WHERE idx = ?`, int64(index)).
		Scan(&term, &typ, &data, &ext, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("ledger: raft store get %d: %w", index, err)
	}
	*log = raft.Log{Index: index, Term: uint64(term), Type: raft.LogType(typ), Data: data, Extensions: ext}
	if at != 0 {
		log.AppendedAt = time.Unix(0, at)
	}
	return nil
}

// StoreLog stores one entry.
func (s *sqliteStore) StoreLog(log *raft.Log) error { return s.StoreLogs([]*raft.Log{log}) }

// StoreLogs stores entries in one transaction (one fsync).
func (s *sqliteStore) StoreLogs(logs []*raft.Log) error {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: raft store: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO raft_log (idx, term, type, data, ext, appended_at) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("ledger: raft store: %w", err)
	}
	defer stmt.Close()
	for _, l := range logs {
		var at int64
		if !l.AppendedAt.IsZero() {
			at = l.AppendedAt.UnixNano()
		}
		if _, err := stmt.ExecContext(ctx, int64(l.Index), int64(l.Term), int64(l.Type), l.Data, l.Extensions, at); err != nil {
			return fmt.Errorf("ledger: raft store put %d: %w", l.Index, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger: raft store commit: %w", err)
	}
	return nil
}

// DeleteRange deletes entries min..max inclusive.
func (s *sqliteStore) DeleteRange(min, max uint64) error {
	if _, err := s.db.Exec(`DELETE FROM raft_log WHERE idx >= ? AND idx <= ?`, int64(min), int64(max)); err != nil {
		return fmt.Errorf("ledger: raft store delete: %w", err)
	}
	return nil
}

// Set stores a stable key.
func (s *sqliteStore) Set(key, val []byte) error {
	if val == nil {
		val = []byte{}
	}
	if _, err := s.db.Exec(`INSERT OR REPLACE INTO raft_kv (k, v) VALUES (?, ?)`, key, val); err != nil {
		return fmt.Errorf("ledger: raft store set: %w", err)
	}
	return nil
}

// Get returns a stable key's value, or an error whose message is
// "not found" (what raft checks for).
func (s *sqliteStore) Get(key []byte) ([]byte, error) {
	var v []byte
	err := s.db.QueryRow(`SELECT v FROM raft_kv WHERE k = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errStableNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: raft store get: %w", err)
	}
	return v, nil
}

// SetUint64 stores a uint64 under key.
func (s *sqliteStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns the uint64 under key.
func (s *sqliteStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("ledger: raft store: value of %q is %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
