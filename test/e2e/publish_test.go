//go:build linux

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/peerpath/peerpath/api"
)

// published is what `peerpath publish --json` prints.
type published struct {
	URL       string `json:"url"`
	CID       string `json:"cid"`
	K         int    `json:"k"`
	N         int    `json:"n"`
	Seq       uint64 `json:"seq"`
	Holders   int    `json:"holders"`
	OldShares int    `json:"old_shares"`
	SecretOut string `json:"secret_out"`
	Secret    string `json:"secret"`
}

// Done when (issue 13): a published file is fetched by URL, byte-
// identical, with the publisher and n−k storing peers stopped; no storing
// peer holds the plaintext, its name or the URL's key.
func TestPublishFetchWithPublisherAndHoldersGone(t *testing.T) {
	t.Parallel()
	owner, peers := storageCluster(t, 5)
	src := filepath.Join(t.TempDir(), "leaked-memo-Xq7.txt")
	want := bytes.Repeat([]byte("The minister knew about the bridge in March. "), 900)
	os.WriteFile(src, want, 0o644)
	secretFile := filepath.Join(t.TempDir(), "memo.secret")

	var pub published
	cliJSON(t, &pub, "publish", src, "--k", "2", "--n", "5", "--secret-out", secretFile, "--home", owner.Home)
	if !strings.HasPrefix(pub.URL, "peerpath://doc/") || pub.CID == "" || pub.K != 2 || pub.N != 5 || pub.Secret != "" || pub.SecretOut != secretFile {
		t.Fatalf("publish printed %+v", pub)
	}
	fi, err := os.Stat(secretFile)
	secret, _ := os.ReadFile(secretFile)
	if err != nil || fi.Mode().Perm() != 0o600 || !bytes.HasPrefix(secret, []byte("ppsecret1:")) {
		t.Fatalf("secret file: %v %v %q", err, fi, secret)
	}
	// The document's content id is the one `peerpath share` gives the
	// same file (so a denylist of content ids applies to both).
	var shared api.Share
	cliJSON(t, &shared, "share", src, "--home", owner.Home)
	if shared.CID != pub.CID {
		t.Fatalf("published as %s, shared as %s", pub.CID, shared.CID)
	}
	key, _ := base64.RawURLEncoding.DecodeString(pub.URL[strings.Index(pub.URL, "#")+1:])
	needles := [][]byte{[]byte("leaked-memo-Xq7"), []byte("minister knew"), want[5000:5024], key, bytes.TrimSpace(secret)}
	for i, p := range peers {
		filepath.WalkDir(p.Home, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(path)
			for _, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("storing peer %d: %s holds %q", i, path, n)
				}
			}
			return nil
		})
	}

	// The publisher and n−k = 3 of the 5 storing peers stop; a fresh home
	// that knows only the URL and one surviving peer fetches the file.
	owner.Stop()
	for _, p := range peers[:3] {
		p.Kill()
	}
	fresh := startDaemon(t, "--bootstrap", peers[3].Addr())
	out := filepath.Join(t.TempDir(), "got.txt")
	var got api.PublishFetched
	cliJSON(t, &got, "get", pub.URL, "-o", out, "--home", fresh.Home)
	b, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(b, want) {
		t.Fatalf("fetched file differs: %v", err)
	}
	if got.CID != pub.CID || got.Size != int64(len(want)) || got.Name != "leaked-memo-Xq7.txt" || got.Path != out || got.Seq != 1 {
		t.Fatalf("get printed %+v", got)
	}
}

// Done when (issue 13): update and delete work only with the secret: the
// publisher's home, or the secret file on another home; another home
// without it, or with a secret of its own making, is refused.
func TestPublishUpdateDeleteNeedSecret(t *testing.T) {
	t.Parallel()
	owner, peers := storageCluster(t, 3)
	dir := t.TempDir()
	v1, v2, v3 := filepath.Join(dir, "v1.txt"), filepath.Join(dir, "v2.txt"), filepath.Join(dir, "v3.txt")
	os.WriteFile(v1, []byte("first version"), 0o644)
	os.WriteFile(v2, []byte("second version, longer than the first"), 0o644)
	os.WriteFile(v3, []byte("third version, from another home"), 0o644)
	secretFile := filepath.Join(dir, "doc.secret")
	var pub published
	cliJSON(t, &pub, "publish", v1, "--k", "2", "--n", "3", "--secret-out", secretFile, "--home", owner.Home)

	other := startDaemon(t, "--bootstrap", peers[0].Addr())
	// No secret in this home.
	_, errOut, code := cli(t, "publish", "update", pub.URL, v2, "--home", other.Home)
	if code == 0 || !strings.Contains(errOut, "secret") {
		t.Fatalf("update from another home without the secret: exit %d, %s", code, errOut)
	}
	_, errOut, code = cli(t, "publish", "delete", pub.URL, "--home", other.Home)
	if code == 0 || !strings.Contains(errOut, "secret") {
		t.Fatalf("delete from another home without the secret: exit %d, %s", code, errOut)
	}
	// A secret of the attacker's own making.
	forged := filepath.Join(dir, "forged.secret")
	seed := make([]byte, 32)
	rand.Read(seed)
	os.WriteFile(forged, []byte("ppsecret1:"+base64.RawURLEncoding.EncodeToString(seed)), 0o600)
	_, errOut, code = cli(t, "publish", "update", pub.URL, v2, "--secret", forged, "--home", other.Home)
	if code == 0 || !strings.Contains(errOut, "not this document's") {
		t.Fatalf("update with a forged secret: exit %d, %s", code, errOut)
	}
	_, errOut, code = cli(t, "publish", "delete", pub.URL, "--secret", forged, "--home", other.Home)
	if code == 0 || !strings.Contains(errOut, "not this document's") {
		t.Fatalf("delete with a forged secret: exit %d, %s", code, errOut)
	}
	fetch := func(d *daemon) (string, error) {
		out := filepath.Join(t.TempDir(), "doc")
		var got api.PublishFetched
		cliJSON(t, &got, "get", pub.URL, "-o", out, "--home", d.Home)
		b, err := os.ReadFile(out)
		return string(b), err
	}
	if s, err := fetch(other); s != "first version" {
		t.Fatalf("after the refused attempts: %q %v", s, err)
	}

	// The publisher updates: same URL, version 2, the old shares deleted.
	var up published
	cliJSON(t, &up, "publish", "update", pub.URL, v2, "--home", owner.Home)
	if up.URL != pub.URL || up.Seq != 2 || up.OldShares != 3 || up.CID == pub.CID {
		t.Fatalf("update printed %+v", up)
	}
	if s, err := fetch(other); s != "second version, longer than the first" {
		t.Fatalf("after the update: %q %v", s, err)
	}
	// Another home with the secret file updates too.
	cliJSON(t, &up, "publish", "update", pub.URL, v3, "--secret", secretFile, "--home", other.Home)
	if up.Seq != 3 {
		t.Fatalf("update with the secret file printed %+v", up)
	}
	if s, err := fetch(owner); s != "third version, from another home" {
		t.Fatalf("after the second update: %q %v", s, err)
	}
	// The publisher deletes; nobody can fetch it any more.
	var del api.PublishDeleted
	cliJSON(t, &del, "publish", "delete", pub.URL, "--home", owner.Home)
	if del.Holders < 2 || del.Shares != 3 {
		t.Fatalf("delete printed %+v", del)
	}
	_, errOut, code = cli(t, "get", pub.URL, "-o", filepath.Join(dir, "gone"), "--home", other.Home)
	if code == 0 || !strings.Contains(errOut, "deleted") {
		t.Fatalf("get after delete: exit %d, %s", code, errOut)
	}
	var list []api.PublishedDoc
	cliJSON(t, &list, "publish", "list", "--home", owner.Home)
	if len(list) != 1 || !list[0].Deleted || list[0].URL != pub.URL {
		t.Fatalf("publish list: %+v", list)
	}
}

// The web app: the Shares page publishes a shared file and shows its URL;
// the Search page takes that URL and fetches the document.
func TestBrowserPublishAndFetchByURL(t *testing.T) {
	t.Parallel()
	owner, _ := storageCluster(t, 2)
	src := filepath.Join(t.TempDir(), "pamphlet.txt")
	want := []byte("Common Sense, addressed to the inhabitants of America.")
	os.WriteFile(src, want, 0o644)
	if _, errOut, code := cli(t, "share", src, "--home", owner.Home); code != 0 {
		t.Fatal(errOut)
	}
	b := newBrowser(t)
	b.do(t,
		chromedp.Navigate(loginURL(t, owner)),
		chromedp.WaitVisible(chromedp.CSS(`nav`)),
		chromedp.Click(chromedp.CSS(`a[href="#/shares"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[data-publish]`)),
		chromedp.SetValue(chromedp.CSS(`#pub-k`), "1"),
		chromedp.SetValue(chromedp.CSS(`#pub-n`), "2"),
		chromedp.Click(chromedp.CSS(`button[data-publish]`)),
	)
	var url string
	eventually(t, 30*time.Second, func() error {
		s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector('[data-bind="publishurl"]') || {}).textContent || document.querySelector('[data-bind="publishstatus"]').textContent`))
		if err != nil || !strings.HasPrefix(s, "peerpath://doc/") {
			return fmt.Errorf("page shows %q (%v)", s, err)
		}
		url = s
		return nil
	})
	b.do(t,
		chromedp.Click(chromedp.CSS(`a[href="#/search"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#search-q`)),
		chromedp.SendKeys(chromedp.CSS(`#search-q`), url),
		chromedp.WaitVisible(chromedp.CSS(`td[data-doc] button`)),
		chromedp.Click(chromedp.CSS(`td[data-doc] button`)),
	)
	eventually(t, 30*time.Second, func() error {
		s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('td[data-doc]').textContent`))
		if err != nil || !strings.HasPrefix(s, "saved to ") {
			return fmt.Errorf("page shows %q (%v)", s, err)
		}
		return nil
	})
	got, err := os.ReadFile(filepath.Join(owner.Home, "downloads", "pamphlet.txt"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("fetched from the Search page: %q %v", got, err)
	}
	b.noConsoleErrors(t)
}
