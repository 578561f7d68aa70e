//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
)

// Daemons on loopback find each other's files by name (case and accents
// don't matter), and a result fetched with peerpath get is the right file.
func TestSearchFindsAndGets(t *testing.T) {
	a := startDaemon(t)
	boot := a.Addr()
	b := startDaemon(t, "--bootstrap", boot)
	c := startDaemon(t, "--bootstrap", boot)

	dir := t.TempDir()
	song := writeRandom(t, filepath.Join(dir, "music", "The Beatles - Hey Jude.mp3"), 300_000)
	writeRandom(t, filepath.Join(dir, "music", "Beyoncé - Halo.mp3"), 200_000)
	writeRandom(t, filepath.Join(dir, "music", "notes.txt"), 100)
	var sh shareOut
	cliJSON(t, &sh, "share", filepath.Join(dir, "music"), "--home", a.Home)

	var hit api.SearchResult
	eventually(t, 40*time.Second, func() error {
		out, errOut, code := cli(t, "search", "beatles hey jude", "--json", "--timeout", "3s", "--home", c.Home)
		if code != 0 {
			return errorString(errOut)
		}
		cids := map[string]bool{}
		for _, line := range lines(out) {
			var r api.SearchResult
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("bad line %q: %v", line, err)
			}
			if cids[r.CID] {
				t.Fatalf("content id %s printed twice:\n%s", r.CID, out)
			}
			cids[r.CID] = true
			if r.Name == "The Beatles - Hey Jude.mp3" {
				hit = r
				return nil
			}
		}
		return errorString("not found yet: " + out)
	})
	if hit.Size != int64(len(song)) || hit.Type != "audio" || len(hit.Providers) == 0 {
		t.Fatalf("result %+v", hit)
	}
	// Accents don't matter.
	out, _, code := cli(t, "search", "beyonce", "--json", "--home", b.Home)
	if code != 0 || !strings.Contains(out, "Beyonc") {
		t.Fatalf("beyonce: %d %q", code, out)
	}
	// A query nothing matches returns no results, quickly.
	start := time.Now()
	out, _, code = cli(t, "search", "zzqxv nothingmatches", "--json", "--home", b.Home)
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("no-match query: %d %q", code, out)
	}
	t.Logf("no-match query took %s", time.Since(start))

	// The result fetched with peerpath get is the right file.
	got := filepath.Join(t.TempDir(), "song.mp3")
	var res api.GetResult
	cliJSON(t, &res, "get", hit.CID, "-o", got, "--home", c.Home)
	data, _ := os.ReadFile(got)
	if !bytes.Equal(data, song) {
		t.Fatal("fetched file differs from the shared one")
	}

	// block keeps a local blocklist.
	if _, errOut, code := cli(t, "block", a.ID().ID, "--home", c.Home); code != 0 {
		t.Fatalf("block: %s", errOut)
	}
	blocked, err := c.Client.Blocked(t.Context())
	if err != nil || len(blocked) != 1 {
		t.Fatalf("blocked: %v %v", blocked, err)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
