package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMigrateAppliesOnceAndSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "node.db")
	migs := []Migration{
		{Version: 1, SQL: `CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)`},
		{Version: 2, SQL: `ALTER TABLE t ADD COLUMN w TEXT; INSERT INTO t(k, v) VALUES ('a', 1)`},
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, "test", migs); err != nil {
		t.Fatal(err)
	}
	// A second run must not re-apply (the INSERT would violate the key).
	if err := db.Migrate(ctx, "test", migs); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	db.Close()

	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v; want 1", n, err)
	}
	// A newer database than the binary is refused.
	if err := db.Migrate(ctx, "test", migs[:1]); err == nil {
		t.Fatal("migrate with fewer migrations than applied: want error")
	}
	// Components are independent.
	if err := db.Migrate(ctx, "other", []Migration{{Version: 1, SQL: `CREATE TABLE o (x)`}}); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateRejectsGaps(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Migrate(context.Background(), "gap", []Migration{{Version: 1, SQL: "SELECT 1"}, {Version: 3, SQL: "SELECT 1"}})
	if !errors.Is(err, ErrMigrationOrder) {
		t.Fatalf("err = %v; want ErrMigrationOrder", err)
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Migrate(context.Background(), "bad", []Migration{{Version: 1, SQL: "CREATE TABLE b (x); THIS IS NOT SQL"}})
	if err == nil {
		t.Fatal("want error")
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'b'`).Scan(&n)
	if n != 0 {
		t.Fatal("table of a failed migration was kept")
	}
}

func TestConcurrentMigrateAppliesOnce(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	migs := []Migration{{Version: 1, SQL: `CREATE TABLE c (x)`}, {Version: 2, SQL: `INSERT INTO c VALUES (1)`}}
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- db.Migrate(context.Background(), "c", migs) }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM c`).Scan(&n)
	if n != 1 {
		t.Fatalf("migration 2 applied %d times", n)
	}
}

// WriteFileAtomic replaces a file's content whole and leaves no temporary
// file behind; a write into a missing folder fails and leaves nothing.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.toml")
	for _, data := range []string{"first\n", "second, longer\n", ""} {
		if err := WriteFileAtomic(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != data {
			t.Fatalf("read %q (%v), want %q", got, err, data)
		}
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), []byte("x"), 0o600); err == nil {
		t.Fatal("write into a missing folder succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
}

// TestPrepared: one statement per query text, shared by concurrent
// callers (each sees its own rows), closed with the database.
func TestPrepared(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "node.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT v FROM t WHERE k = ?`
	ins, err := db.Prepared(ctx, `INSERT INTO t(k, v) VALUES (?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 50 {
		if _, err := ins.ExecContext(ctx, k, fmt.Sprint("v", k)); err != nil {
			t.Fatal(err)
		}
	}
	first, err := db.Prepared(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (w*31 + i) % 50
				st, err := db.Prepared(ctx, q)
				if err != nil {
					errs <- err
					return
				}
				if st != first {
					errs <- errors.New("a second statement for the same query")
					return
				}
				var v string
				if err := st.QueryRowContext(ctx, k).Scan(&v); err != nil {
					errs <- err
					return
				}
				if v != fmt.Sprint("v", k) {
					errs <- fmt.Errorf("k %d: got %q", k, v)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := db.Prepared(ctx, `SELECT nosuchcolumn FROM t`); err == nil {
		t.Fatal("a bad query prepared")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := first.QueryRowContext(ctx, 1).Scan(&v); err == nil {
		t.Fatal("statement usable after Close")
	}
}
