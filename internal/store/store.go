// Package store opens a node's embedded SQLite database and applies
// numbered schema migrations.
//
// Each service owns its tables: it declares its migrations as a slice of
// [Migration] under a component name and calls [DB.Migrate] when it starts.
// The database records which versions of which component have been applied,
// so services can evolve their schemas independently without colliding.
//
// The database runs in WAL mode with a busy timeout, so readers never block
// the writer and a crash (kill -9) loses at most the transaction in flight.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DB is a node's database. It embeds *sql.DB, so every database/sql method
// is available.
type DB struct {
	*sql.DB

	stmts sync.Map // query text -> *sql.Stmt (see Prepared)
}

// Prepared returns the statement for query, prepared on first use and kept
// until the database closes. Hot paths use it: modernc's SQLite parses a
// statement again on every Query or Exec, which was 16% of a file
// server's CPU when it served a folder of many small files. Use it for
// fixed query texts only (the cache never shrinks).
func (db *DB) Prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := db.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if old, loaded := db.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return old.(*sql.Stmt), nil
	}
	return st, nil
}

// Close closes the prepared statements, then the database.
func (db *DB) Close() error {
	db.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		db.stmts.Delete(k)
		return true
	})
	return db.DB.Close()
}

// Migration is one numbered schema change of a component. Versions start at
// 1 and must increase without gaps; SQL may hold several statements.
type Migration struct {
	Version int
	SQL     string
}

// Open opens (creating if needed) the database file at path, in WAL mode
// with foreign keys on. Use ":memory:" only for tests that need no
// durability; note that each connection then has its own database, so Open
// limits such a pool to one connection.
func Open(path string) (*DB, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	if path == ":memory:" {
		dsn = "file::memory:?_pragma=foreign_keys(1)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if path == ":memory:" {
		db.SetMaxOpenConns(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL,
		version   INTEGER NOT NULL,
		applied   INTEGER NOT NULL,
		PRIMARY KEY (component, version))`); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return &DB{DB: db}, nil
}

// ErrMigrationOrder is returned by [DB.Migrate] when a component's
// migrations are not numbered 1, 2, 3… without gaps.
var ErrMigrationOrder = errors.New("store: migrations must be numbered 1, 2, 3… without gaps")

// Migrate applies, in order and each in its own transaction, the migrations
// of component that the database has not applied yet. It is safe to call on
// every start.
func (db *DB) Migrate(ctx context.Context, component string, migs []Migration) error {
	sorted := append([]Migration(nil), migs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Version < sorted[j].Version })
	for i, m := range sorted {
		if m.Version != i+1 {
			return fmt.Errorf("%w (component %s)", ErrMigrationOrder, component)
		}
	}
	for _, m := range sorted {
		if err := db.apply(ctx, component, m, len(sorted)); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one migration unless it was applied already. The check and the
// change happen in one (immediate) transaction, so concurrent callers, in
// this process or another, apply each migration exactly once.
func (db *DB) apply(ctx context.Context, component string, m Migration, known int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate %s to %d: %w", component, m.Version, err)
	}
	defer tx.Rollback()
	var have int
	if err := tx.QueryRowContext(ctx,
		`SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?`, component).Scan(&have); err != nil {
		return fmt.Errorf("store: migrate %s: %w", component, err)
	}
	if have > known {
		return fmt.Errorf("store: migrate %s: database is at version %d, newer than this binary (%d)", component, have, known)
	}
	if have >= m.Version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("store: migrate %s to %d: %w", component, m.Version, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations(component, version, applied) VALUES (?, ?, ?)`,
		component, m.Version, time.Now().Unix()); err != nil {
		return fmt.Errorf("store: migrate %s to %d: %w", component, m.Version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate %s to %d: %w", component, m.Version, err)
	}
	return nil
}
