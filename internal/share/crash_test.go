package share

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/store"
)

// crashHelperEnv makes the test binary, run as a child process, index a
// share in a loop until it is killed (see TestKillDuringIndex).
const crashHelperEnv = "PEERPATH_SHARE_CRASH_HELPER"

func init() {
	if spec := os.Getenv(crashHelperEnv); spec != "" {
		var dbPath, root string
		if _, err := fmt.Sscanf(spec, "%s %s", &dbPath, &root); err != nil {
			os.Exit(3)
		}
		crashHelper(dbPath, root)
		os.Exit(0)
	}
}

// crashHelper re-indexes root forever, changing a file each round so every
// round writes to the catalog.
func crashHelper(dbPath, root string) {
	ctx := context.Background()
	db, err := store.Open(dbPath)
	if err != nil {
		os.Exit(4)
	}
	s, err := New(ctx, Config{DB: db, ChunkSize: cs, Workers: 1})
	if err != nil {
		os.Exit(5)
	}
	for i := 0; ; i++ {
		data := randData(uint64(i), 200*cs)
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("churn%d.bin", i%3)), data, 0o644); err != nil {
			os.Exit(6)
		}
		if _, err := s.Add(ctx, root); err != nil {
			os.Exit(7)
		}
	}
}

// TestKillDuringIndex kills (SIGKILL) a process while it indexes and checks
// that the catalog it leaves is consistent, several times.
func TestKillDuringIndex(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "share")
	makeTree(t, root)
	for i := range 300 {
		writeFile(t, filepath.Join(root, "many", fmt.Sprintf("f%03d.txt", i)), []byte(fmt.Sprint(i)))
	}
	dbPath := filepath.Join(dir, "db")
	for round, delay := range []time.Duration{150, 400, 700, 1000} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashHelperEnv+"="+dbPath+" "+root)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: helper ended on its own: %v", round, err)
		}
		checkCatalog(t, dbPath, root)
	}
}

// checkCatalog opens the catalog and checks that it describes whole shares:
// every row has its manifest, folder manifests list exactly their child
// rows, file rows have exactly their manifest's chunks, counts add up.
func checkCatalog(t *testing.T, dbPath, root string) {
	t.Helper()
	ctx := context.Background()
	db := openDB(t, dbPath)
	s, err := New(ctx, Config{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity: %s %v", check, err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) > 1 {
		t.Fatalf("%d shares", len(list))
	}
	files, err := s.Files(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 {
		if len(files) != 0 {
			t.Fatalf("%d files without a share", len(files))
		}
		return
	}
	t.Logf("share %s files %d", list[0].CID, list[0].Files)
	byRel := map[string]FileEntry{}
	nfiles := 0
	for _, f := range files {
		byRel[f.RelPath] = f
		if !f.Dir {
			nfiles++
		}
	}
	if byRel[""].CID != list[0].CID || nfiles != list[0].Files {
		t.Fatalf("share %+v but root row %+v and %d files", list[0], byRel[""], nfiles)
	}
	for rel, f := range byRel {
		id, err := cid.Decode(f.CID)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := s.Manifest(ctx, id)
		if err != nil {
			t.Fatalf("%q: %v", rel, err)
		}
		v, err := content.Decode(id, enc)
		if err != nil {
			t.Fatalf("%q: %v", rel, err)
		}
		switch m := v.(type) {
		case *content.DirManifest:
			for _, e := range m.Entries {
				child, ok := byRel[path.Join(rel, e.Name)]
				if !ok || child.CID != e.ID.String() {
					t.Fatalf("%q entry %s: row %+v", rel, e.Name, child)
				}
			}
		case *content.FileManifest:
			var n int
			err := db.QueryRow(`SELECT COUNT(*) FROM share_chunks c JOIN share_files f ON f.id = c.file_id
				WHERE f.rel_path = ?`, rel).Scan(&n)
			if err != nil || n != len(m.Chunks) {
				t.Fatalf("%q: %d chunk rows for %d chunks (%v)", rel, n, len(m.Chunks), err)
			}
		}
	}
	var orphans int
	if err := db.QueryRow(`SELECT COUNT(*) FROM share_chunks WHERE file_id NOT IN (SELECT id FROM share_files)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Fatalf("%d orphan chunk rows (%v)", orphans, err)
	}
}
