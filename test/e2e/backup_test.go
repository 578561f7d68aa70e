//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/peerpath/peerpath/api"
)

// storageCluster starts an owner and n storing peers (bootstrapped from
// the owner), each offering 64 MiB, and waits until the owner sees them.
func storageCluster(t *testing.T, n int) (*daemon, []*daemon) {
	t.Helper()
	owner := startDaemon(t)
	addr := owner.Addr()
	peers := make([]*daemon, n)
	var wg sync.WaitGroup
	for i := range peers {
		wg.Add(1)
		go func() { defer wg.Done(); peers[i] = startDaemon(t, "--bootstrap", addr) }()
	}
	wg.Wait()
	for _, p := range peers {
		if p == nil {
			t.FailNow()
		}
		if _, errOut, code := cli(t, "storage", "offer", "64MiB", "--home", p.Home); code != 0 {
			t.Fatalf("storage offer: %s", errOut)
		}
	}
	eventually(t, 30*time.Second, func() error {
		var got []api.Peer
		cliJSON(t, &got, "peers", "--home", owner.Home)
		if len(got) < n {
			return fmt.Errorf("owner sees %d peers", len(got))
		}
		return nil
	})
	return owner, peers
}

// sameFiles fails unless every file under want has a byte-identical copy
// under got.
func sameFiles(t *testing.T, want, got string) {
	t.Helper()
	n := 0
	filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(got, rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s not restored byte-identical: %v", rel, err)
		}
		n++
		return nil
	})
	if n == 0 {
		t.Fatal("no files compared")
	}
}

// Done when (issue 13): a folder backed up with k=4, n=8 onto 8 peers is
// restored byte-identical on a fresh home from the capability alone after
// 4 of those peers are killed, and no storing peer's home holds any
// plaintext byte sequence of the files or their names.
func TestBackupRestoreFromCapAlone(t *testing.T) {
	t.Parallel()
	owner, peers := storageCluster(t, 8)

	src := filepath.Join(t.TempDir(), "Quarterly-Plans-7f3a")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	memo := bytes.Repeat([]byte("Merger memo: acquire Initech for 42 million, tell no one. "), 400)
	files := map[string][]byte{
		"merger-memo-Zq9.txt":      memo,
		"sub/ledger-notes-K2.csv":  []byte("account,amount\nalice,1000\nbob,2500\n"),
		"photo-of-the-vault.bin":   writeRandom(t, filepath.Join(src, "photo-of-the-vault.bin"), 700<<10),
		"sub/empty-file-named-X7q": {},
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var created api.BackupCreated
	cliJSON(t, &created, "backup", "create", src, "--k", "4", "--n", "8", "--home", owner.Home)
	if created.Files != 4 || !strings.HasPrefix(created.Cap, "ppbackup1:") || created.Stored != created.Bytes {
		t.Fatalf("backup create: %+v", created)
	}
	var list []api.BackupSnapshot
	cliJSON(t, &list, "backup", "list", "--home", owner.Home)
	if len(list) != 1 || list[0].Snapshot != created.Snapshot {
		t.Fatalf("backup list: %+v", list)
	}

	// Every storing peer holds shares, and none holds plaintext.
	needles := [][]byte{[]byte("Quarterly-Plans-7f3a"), []byte("merger-memo-Zq9"), []byte("ledger-notes-K2"),
		[]byte("photo-of-the-vault"), []byte("empty-file-named-X7q"), []byte("Initech"), []byte("alice,1000")}
	for _, b := range files {
		for off := 0; off+24 <= len(b); off += max(len(b)/5, 1) {
			needles = append(needles, b[off:off+24])
		}
	}
	for i, p := range peers {
		shares := 0
		filepath.WalkDir(p.Home, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if strings.Contains(path, string(filepath.Separator)+"shares"+string(filepath.Separator)) {
				shares++
			}
			b, _ := os.ReadFile(path)
			for _, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("peer %d: %s holds plaintext %q", i, path, n)
				}
			}
			return nil
		})
		if shares == 0 {
			t.Errorf("peer %d holds no share", i)
		}
	}

	// Kill 4 of the 8 holders; restore on a fresh home that knows only the
	// capability and one surviving peer to join the network through.
	for _, p := range peers[:4] {
		p.Kill()
	}
	fresh := startDaemon(t, "--bootstrap", peers[4].Addr())
	out := t.TempDir()
	var restored api.BackupRestored
	cliJSON(t, &restored, "backup", "restore", created.Cap, "-o", out, "--home", fresh.Home)
	if restored.Files != 4 || restored.Bytes != created.Bytes {
		t.Fatalf("restore: %+v", restored)
	}
	sameFiles(t, src, filepath.Join(out, "Quarterly-Plans-7f3a"))
}

// Done when (issue 13): a share altered on disk is detected by a challenge
// and repaired onto another peer.
func TestBackupAlteredShareRepaired(t *testing.T) {
	t.Parallel()
	owner, peers := storageCluster(t, 5)
	src := filepath.Join(t.TempDir(), "docs")
	os.MkdirAll(src, 0o755)
	want := writeRandom(t, filepath.Join(src, "a.bin"), 100<<10)
	var created api.BackupCreated
	cliJSON(t, &created, "backup", "create", src, "--k", "2", "--n", "4", "--home", owner.Home)

	// Alter one share file on one storing peer.
	var victim string
	for _, p := range peers {
		filepath.WalkDir(filepath.Join(p.Home, "storage", "shares"), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && victim == "" {
				victim = path
			}
			return nil
		})
	}
	if victim == "" {
		t.Fatal("no share on any storing peer")
	}
	b, _ := os.ReadFile(victim)
	b[len(b)/2] ^= 0xff
	os.WriteFile(victim, b, 0o600)

	var check api.StorageCheck
	cliJSON(t, &check, "storage", "check", "--home", owner.Home)
	if check.Repaired != 1 || check.Objects != 2 || check.Healthy != 2 {
		t.Fatalf("storage check after altering one share: %+v", check)
	}
	var st api.BackupStatus
	cliJSON(t, &st, "backup", "status", created.Snapshot, "--home", owner.Home)
	if st.Repairs != 1 || st.ManifestHealthy != 4 || len(st.Files) != 1 || st.Files[0].Healthy != 4 {
		t.Fatalf("backup status after repair: %+v", st)
	}
	out := t.TempDir()
	var restored api.BackupRestored
	cliJSON(t, &restored, "backup", "restore", created.Snapshot, "-o", out, "--home", owner.Home)
	got, _ := os.ReadFile(filepath.Join(out, "docs", "a.bin"))
	if !bytes.Equal(got, want) {
		t.Fatal("restore after repair differs")
	}
	// The same restore through the API's progress stream (what the CLI's
	// progress bar reads) reports every byte.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last [2]int64
	res, err := owner.Client.BackupRestoreProgress(ctx, api.BackupRestoreRequest{Snapshot: created.Snapshot, Output: t.TempDir()},
		func(done, total int64) { last = [2]int64{done, total} })
	if err != nil || res.Files != 1 || last[0] != int64(len(want)) || last[1] != int64(len(want)) {
		t.Fatalf("restore with progress: %+v, %v, last progress %v", res, err, last)
	}
	// Forget deletes the snapshot's shares from their holders.
	cli(t, "backup", "forget", created.Snapshot, "--home", owner.Home)
	eventually(t, 10*time.Second, func() error {
		var s api.Storage
		for _, p := range peers {
			cliJSON(t, &s, "storage", "--home", p.Home)
			if s.Used != 0 {
				return fmt.Errorf("a holder still stores %d bytes", s.Used)
			}
		}
		return nil
	})
}

// The web app's Backup page sets the storage offer and shows it.
func TestBrowserBackupPage(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	b := newBrowser(t)
	b.do(t,
		chromedp.Navigate(loginURL(t, d)),
		chromedp.WaitVisible(chromedp.CSS(`nav`)),
		chromedp.Click(chromedp.CSS(`a[href="#/backup"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#st-offer`)),
		chromedp.SetValue(chromedp.CSS(`#st-size`), "1048576"),
		chromedp.Click(chromedp.CSS(`#st-offer button[type="submit"]`)),
	)
	eventually(t, 10*time.Second, func() error {
		var s api.Storage
		cliJSON(t, &s, "storage", "--home", d.Home)
		if s.Offered != 1<<20 {
			return fmt.Errorf("offered %d", s.Offered)
		}
		return nil
	})
	eventually(t, 10*time.Second, func() error {
		txt, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('[data-bind="stsummary"]').textContent`))
		if err != nil || !strings.HasPrefix(txt, "Offering 1") {
			return fmt.Errorf("page shows %q (%v)", txt, err)
		}
		return nil
	})
	b.noConsoleErrors(t)
}

// A backup killed (kill -9 of the owner's daemon) halfway is resumed by
// running it again: what was stored before the kill is not stored twice,
// and the snapshot restores byte-identical.
func TestBackupResumesAfterKill(t *testing.T) {
	t.Parallel()
	owner, peers := storageCluster(t, 3)
	src := filepath.Join(t.TempDir(), "photos")
	os.MkdirAll(src, 0o755)
	for i := range 12 {
		writeRandom(t, filepath.Join(src, fmt.Sprintf("img%02d.raw", i)), 600<<10)
	}
	create := exec.Command(bin, "backup", "create", src, "--k", "2", "--n", "3", "--json", "--home", owner.Home)
	if err := create.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- create.Wait() }()
	// Once a storing peer holds shares of two objects, the first object
	// is recorded on the owner's side (objects are placed one by one).
	eventually(t, 60*time.Second, func() error {
		var s api.Storage
		cliJSON(t, &s, "storage", "--home", peers[0].Home)
		if s.Shares < 2 {
			return fmt.Errorf("%d shares stored so far", s.Shares)
		}
		return nil
	})
	owner.Kill()
	<-done
	// The owner comes back on a new port: it joins through the storing peers.
	var boot []string
	for _, p := range peers {
		boot = append(boot, "--bootstrap", p.Addr())
	}
	owner = startDaemonHome(t, owner.Home, boot...)
	eventually(t, 30*time.Second, func() error {
		var got []api.Peer
		cliJSON(t, &got, "peers", "--home", owner.Home)
		if len(got) < len(peers) {
			return fmt.Errorf("owner sees %d peers", len(got))
		}
		return nil
	})
	var created api.BackupCreated
	cliJSON(t, &created, "backup", "create", src, "--k", "2", "--n", "3", "--home", owner.Home)
	if created.Files != 12 || created.Stored >= created.Bytes {
		t.Fatalf("resumed backup stored %d of %d bytes again", created.Stored, created.Bytes)
	}
	out := t.TempDir()
	var restored api.BackupRestored
	cliJSON(t, &restored, "backup", "restore", created.Cap, "-o", out, "--home", owner.Home)
	sameFiles(t, src, filepath.Join(out, "photos"))
}

// Storage with a price is paid through the ledger: the owner's node signs
// a lease payment per share, each storing peer submits it and counts it
// only with the ledger's receipt; credits move from owner to holders.
func TestStorageLeasesPaidThroughLedger(t *testing.T) {
	t.Parallel()
	owner := startDaemon(t, "--ledger-voter")
	oid := owner.ID().ID
	peers := []*daemon{
		startDaemon(t, "--bootstrap", owner.Addr(), "--ledger-voters", oid),
		startDaemon(t, "--bootstrap", owner.Addr(), "--ledger-voters", oid),
	}
	gen := filepath.Join(t.TempDir(), "genesis.json")
	g, _ := json.Marshal(map[string]any{oid: 100, peers[0].ID().ID: 1, peers[1].ID().ID: 1})
	os.WriteFile(gen, g, 0o600)
	if _, errOut, code := cli(t, "ledger", "create", "--voters", oid, "--genesis", gen, "--home", owner.Home); code != 0 {
		t.Fatalf("ledger create: %s", errOut)
	}
	for _, p := range peers {
		if _, errOut, code := cli(t, "storage", "offer", "64MiB", "--price-per-gib-month", "1000", "--home", p.Home); code != 0 {
			t.Fatal(errOut)
		}
		eventually(t, 20*time.Second, func() error {
			if b := balance(t, p, ""); b != "1" {
				return fmt.Errorf("balance %s", b)
			}
			return nil
		})
	}
	src := filepath.Join(t.TempDir(), "doc")
	os.MkdirAll(src, 0o755)
	writeRandom(t, filepath.Join(src, "a.bin"), 10_000)
	var created api.BackupCreated
	cliJSON(t, &created, "backup", "create", src, "--k", "1", "--n", "2", "--home", owner.Home)
	for i, p := range peers {
		var s api.Storage
		cliJSON(t, &s, "storage", "--home", p.Home)
		if s.Earned == "0" || len(s.Clients) != 1 || s.Clients[0].Peer != oid || s.Clients[0].Paid != s.Earned {
			t.Fatalf("peer %d: %+v", i, s)
		}
		// Two shares (chunk and manifest), each paid on the ledger.
		earned, _ := strconv.ParseFloat(s.Earned.String(), 64)
		bal, _ := strconv.ParseFloat(balance(t, p, ""), 64)
		if bal < 1+earned-1e-9 || earned <= 0 {
			t.Fatalf("peer %d earned %v, holds %v credits", i, earned, bal)
		}
	}
}
