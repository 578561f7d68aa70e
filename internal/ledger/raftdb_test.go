package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckRaftDB(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "raft.db")
	if err := checkRaftDB(path); err != nil {
		t.Fatalf("missing raft.db (a new voter): %v", err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := checkRaftDB(path)
	if !errors.Is(err, ErrEmptyRaftDB) || !strings.Contains(err.Error(), path) {
		t.Fatalf("empty raft.db: %v", err)
	}
	if err := os.WriteFile(path, []byte("SQLite format 3\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkRaftDB(path); err != nil {
		t.Fatalf("non-empty raft.db: %v", err)
	}
}
