//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
)

// A file sent to one peer stays between sender and recipient: the
// recipient gets it, verified; a third peer connected to both finds the
// sender's public file by search (so search works) but not the sent one,
// and cannot fetch it by its id from either.
func TestSentFileIsPrivate(t *testing.T) {
	t.Parallel()
	a := startDaemon(t)
	boot := a.Addr()
	homeB := t.TempDir()
	b := startDaemonHome(t, homeB, "--bootstrap", boot)
	c := startDaemon(t, "--bootstrap", boot)
	ida, idb := a.ID().ID, b.ID().ID
	for _, cmd := range [][]string{
		{"contacts", "add", ida, "--name", "Ana", "--home", b.Home},
		{"contacts", "add", idb, "--name", "Bob", "--home", a.Home},
		{"connect", b.Addr(), "--home", c.Home},
	} {
		if _, errOut, code := cli(t, cmd...); code != 0 {
			t.Fatalf("%v: %s", cmd, errOut)
		}
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "zanzibar-secret-plans.txt")
	want := writeRandom(t, secret, 200_000)
	public := filepath.Join(dir, "zanzibar-public-notes.txt")
	writeRandom(t, public, 1000)
	var pub shareOut
	cliJSON(t, &pub, "share", public, "--home", a.Home)

	var sent api.FileSend
	cliJSON(t, &sent, "send", "Bob", secret, "--home", a.Home)
	if sent.State != "accepted" || len(sent.Files) != 1 {
		t.Fatalf("send: %+v", sent)
	}
	eventually(t, 30*time.Second, func() error {
		got, err := os.ReadFile(filepath.Join(homeB, "downloads", "zanzibar-secret-plans.txt"))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%d bytes differ from the %d sent", len(got), len(want))
		}
		return nil
	})
	// The sender keeps it in its outbox, not among its shares.
	var shares []api.Share
	cliJSON(t, &shares, "shares", "--home", a.Home)
	for _, s := range shares {
		if s.CID == sent.Files[0].CID {
			t.Fatalf("the sent file is listed among a's shares: %+v", s)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(a.Home, "outbox", "*", "zanzibar-secret-plans.txt")); len(m) != 1 {
		t.Fatalf("a's outbox: %v", m)
	}

	// C finds the public file, never the sent one.
	search := func() (string, error) {
		out, errOut, code := cli(t, "search", "zanzibar", "--json", "--timeout", "3s", "--home", c.Home)
		if code != 0 {
			return "", fmt.Errorf("search: exit %d: %s", code, errOut)
		}
		return out, nil
	}
	eventually(t, 30*time.Second, func() error {
		out, err := search()
		if err != nil {
			return err
		}
		if !strings.Contains(out, "zanzibar-public-notes.txt") {
			return fmt.Errorf("c's search does not find the public file yet: %s", out)
		}
		return nil
	})
	out, err := search()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "secret-plans") || strings.Contains(out, sent.Files[0].CID) {
		t.Fatalf("c's search finds the sent file: %s", out)
	}
	// Nor can C fetch it by its id, though it is connected to both.
	_, errOut, code := cli(t, "get", sent.Files[0].CID, "-o", filepath.Join(t.TempDir(), "x"), "--timeout", "5s", "--home", c.Home)
	if code == 0 {
		t.Fatal("c fetched the sent file")
	}
	if !strings.Contains(errOut, "no provider") {
		t.Fatalf("c's get: %s", errOut)
	}
	// C can fetch the public file the same way (the refusal above is not
	// a broken get).
	var res api.GetResult
	cliJSON(t, &res, "get", pub.CID, "-o", filepath.Join(t.TempDir(), "p"), "--home", c.Home)
	if res.Size != 1000 {
		t.Fatalf("get of the public file: %+v", res)
	}
}
