//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
)

// writeRandom writes n random bytes to path.
func writeRandom(t *testing.T, path string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// sameTree fails unless folders a and b hold the same names and bytes.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	count := 0
	filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(a, p)
		q := filepath.Join(b, rel)
		if d.IsDir() {
			if fi, err := os.Stat(q); err != nil || !fi.IsDir() {
				t.Errorf("folder %s missing in copy", rel)
			}
			return nil
		}
		x, _ := os.ReadFile(p)
		y, err := os.ReadFile(q)
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("file %s differs (%v)", rel, err)
		}
		count++
		return nil
	})
	filepath.WalkDir(b, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(b, p)
		if _, err := os.Stat(filepath.Join(a, rel)); err != nil {
			t.Errorf("extra entry %s in copy", rel)
		}
		return nil
	})
	if count == 0 {
		t.Fatal("no files compared")
	}
}

type shareOut struct {
	CID   string `json:"cid"`
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	Files int    `json:"files"`
}

// Two and three daemons share and fetch files and folders, byte-identical;
// what a node downloads it serves in turn.
func TestShareAndGetFilesAndFolders(t *testing.T) {
	a := startDaemon(t)
	boot := a.Addr()
	b := startDaemon(t, "--bootstrap", boot)
	c := startDaemon(t, "--bootstrap", boot)

	src := t.TempDir()
	writeRandom(t, filepath.Join(src, "music", "The Beatles - Hey Jude.mp3"), 5<<20+123)
	writeRandom(t, filepath.Join(src, "music", "deep", "empty-ish.txt"), 1)
	writeRandom(t, filepath.Join(src, "music", "deep", "zero.bin"), 0)
	single := filepath.Join(src, "single.bin")
	writeRandom(t, single, 3<<20)

	var folder, file shareOut
	cliJSON(t, &folder, "share", filepath.Join(src, "music"), "--home", a.Home)
	cliJSON(t, &file, "share", single, "--home", a.Home)
	if folder.Files != 3 || folder.Name != "music" || folder.Size != 5<<20+123+1 {
		t.Fatalf("share output: %+v", folder)
	}
	var shares []api.Share
	cliJSON(t, &shares, "shares", "--home", a.Home)
	if len(shares) != 2 {
		t.Fatalf("shares: %+v", shares)
	}

	// Two daemons: b fetches the folder and the file from a.
	dst := t.TempDir()
	var res api.GetResult
	cliJSON(t, &res, "get", folder.CID, "-o", filepath.Join(dst, "music"), "--home", b.Home)
	sameTree(t, filepath.Join(src, "music"), filepath.Join(dst, "music"))
	if !res.Dir || res.Files != 3 {
		t.Fatalf("get result: %+v", res)
	}
	cliJSON(t, &res, "get", file.CID, "-o", filepath.Join(dst, "single.bin"), "--home", b.Home)
	x, _ := os.ReadFile(single)
	y, _ := os.ReadFile(filepath.Join(dst, "single.bin"))
	if !bytes.Equal(x, y) {
		t.Fatal("single file differs")
	}
	// No .part leftovers.
	matches, _ := filepath.Glob(filepath.Join(dst, "*.part*"))
	if len(matches) != 0 {
		t.Fatalf("leftovers: %v", matches)
	}

	// b seeds what it downloaded. Three daemons: c fetches from a and b.
	cliJSON(t, &shares, "shares", "--home", b.Home)
	if len(shares) != 2 || !shares[0].Downloaded {
		t.Fatalf("b does not seed its downloads: %+v", shares)
	}
	dst2 := t.TempDir()
	cliJSON(t, &res, "get", folder.CID, "-o", filepath.Join(dst2, "m"), "--home", c.Home)
	sameTree(t, filepath.Join(src, "music"), filepath.Join(dst2, "m"))

	// With a gone, c can still fetch the file from b alone.
	a.Stop()
	dst3 := t.TempDir()
	cliJSON(t, &res, "get", file.CID, "-o", filepath.Join(dst3, "s"), "--home", c.Home, "--timeout", "20s")
	y, _ = os.ReadFile(filepath.Join(dst3, "s"))
	if !bytes.Equal(x, y) {
		t.Fatal("file from the seeding peer differs")
	}
}

// A download killed with kill -9 (the daemon and the CLI) resumes from the
// chunks it already had.
func TestGetResumesAfterKill9(t *testing.T) {
	a := startDaemon(t)
	src := filepath.Join(t.TempDir(), "big.bin")
	const size = 48 << 20
	want := writeRandom(t, src, size)
	var sh shareOut
	cliJSON(t, &sh, "share", src, "--home", a.Home)

	homeB := t.TempDir()
	// 8 MB/s: the 48 MiB download takes about 6 s, time enough to kill it.
	b := startDaemonHome(t, homeB, "--bootstrap", a.Addr(), "--max-download", "8000000")
	out := filepath.Join(t.TempDir(), "big.bin")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	get := exec.CommandContext(ctx, bin, "get", sh.CID, "-o", out, "--home", homeB)
	if err := get.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the download is under way (the .part file may be
	// preallocated, so give it 2 s of transfer at 8 MB/s), then kill -9 both.
	eventually(t, 30*time.Second, func() error {
		_, err := os.Stat(out + ".part")
		return err
	})
	time.Sleep(2 * time.Second)
	b.Kill()
	get.Process.Kill()
	get.Wait()
	if _, err := os.Stat(out); err == nil {
		t.Fatal("download finished before it was killed; the test proves nothing")
	}

	b2 := startDaemonHome(t, homeB, "--bootstrap", a.Addr())
	var res api.GetResult
	cliJSON(t, &res, "get", sh.CID, "-o", out, "--home", b2.Home)
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("resumed file differs (%v)", err)
	}
	if res.Resumed == 0 || res.Fetched >= size {
		t.Fatalf("did not resume: %+v", res)
	}
	t.Logf("resumed with %d of %d bytes already present; fetched %d", res.Resumed, int64(size), res.Fetched)
}

// With no reachable provider, get fails after --timeout with a clear
// error, in one line.
func TestGetNoProviderTimesOut(t *testing.T) {
	a := startDaemon(t)
	src := filepath.Join(t.TempDir(), "x.bin")
	writeRandom(t, src, 1000)
	var sh shareOut
	cliJSON(t, &sh, "share", src, "--home", a.Home)
	b := startDaemon(t) // not connected to a
	start := time.Now()
	_, errOut, code := cli(t, "get", sh.CID, "-o", filepath.Join(t.TempDir(), "x"), "--home", b.Home, "--timeout", "3s")
	if code == 0 || !strings.Contains(errOut, "no provider") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %s for a 3s timeout", d)
	}
	// The node that shares it copies it from its own share at once, with
	// no provider (it used to wait for one until the timeout).
	own := filepath.Join(t.TempDir(), "own")
	out, errOut, code := cli(t, "get", sh.CID, "-o", own, "--home", a.Home, "--timeout", "20s")
	if code != 0 || !strings.Contains(out, "from this node's own shares") {
		t.Fatalf("own content: code %d, %q %q", code, out, errOut)
	}
	if x, y := readFile(t, src), readFile(t, own); !bytes.Equal(x, y) {
		t.Fatal("local copy differs")
	}
	// A bad id is refused up front.
	_, errOut, code = cli(t, "get", "not-a-cid", "--home", b.Home)
	if code == 0 || !strings.Contains(errOut, "bad content id") {
		t.Fatalf("bad cid: %d %q", code, errOut)
	}
}

// A download onto a full disk fails with a clear error in one line and
// loses nothing: once there is room, the same command finishes it from what
// it already has. The disk is a small tmpfs (the test runs as root, as CI
// does).
func TestGetOntoFullDisk(t *testing.T) {
	mnt := t.TempDir()
	mount := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt)
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })

	a := startDaemon(t)
	src := filepath.Join(t.TempDir(), "album")
	for _, name := range []string{"1.flac", "2.flac", "3.flac"} {
		writeRandom(t, filepath.Join(src, name), 1536<<10)
	}
	var sh shareOut
	cliJSON(t, &sh, "share", src, "--home", a.Home)
	b := startDaemon(t, "--bootstrap", a.Addr())
	out := filepath.Join(mnt, "album")
	_, errOut, code := cli(t, "get", sh.CID, "-o", out, "--timeout", "20s", "--home", b.Home)
	// stderr: the plan (shown before anything is written), then one line
	// of error.
	errLines := lines(strings.TrimSpace(errOut))
	if code == 0 || len(errLines) != 2 || !strings.HasPrefix(errLines[0], sh.CID+": 3 files, ") || !strings.Contains(errLines[1], "no space left on device") {
		t.Fatalf("get onto a full disk: code %d, stderr %q", code, errOut)
	}
	if !strings.Contains(errOut, "run the same get again") {
		t.Fatalf("no hint on what to do: %q", errOut)
	}
	parts, _ := filepath.Glob(filepath.Join(out, "*.part"))
	if len(parts) == 0 {
		t.Fatal("a download that did not fit left no partial file")
	}

	mount("-o", "remount,size=16m", mnt)
	var res api.GetResult
	cliJSON(t, &res, "get", sh.CID, "-o", out, "--timeout", "20s", "--home", b.Home)
	sameTree(t, src, out)
	if res.Resumed == 0 {
		t.Fatalf("nothing kept from the first try: %+v", res)
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
