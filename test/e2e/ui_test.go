//go:build linux

package e2e

import (
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/peerpath/peerpath/api"
)

// peerpath ui --print-url prints a one-time URL; opening it gives a
// session cookie that works for the app and the API, once.
func TestUILoginURL(t *testing.T) {
	d := startDaemon(t)
	out, errOut, code := cli(t, "ui", "--print-url", "--home", d.Home)
	if code != 0 {
		t.Fatalf("ui --print-url: %s", errOut)
	}
	url := strings.TrimSpace(out)
	if !strings.HasPrefix(url, d.Client.Base()+"/ui/login?code=") {
		t.Fatalf("url %q", url)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	defer browser.CloseIdleConnections()
	resp, err := browser.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/" {
		t.Fatalf("after login: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp, err = browser.Get(d.Client.Base() + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("API with session cookie: %d", resp.StatusCode)
	}
	// A state-changing request without the CSRF header is refused.
	resp, err = browser.Post(d.Client.Base()+"/api/v1/connect", "application/json", strings.NewReader(`{"addr":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("POST without CSRF header: %d, want 401", resp.StatusCode)
	}
	// The URL works once.
	fresh := &http.Client{}
	resp, err = fresh.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("reused login URL: %d, want 401", resp.StatusCode)
	}
}

// Background downloads can be started, listed and finish.
func TestBackgroundDownload(t *testing.T) {
	a := startDaemon(t)
	b := startDaemon(t, "--bootstrap", a.Addr())
	src := t.TempDir() + "/f.bin"
	writeRandom(t, src, 2<<20)
	var sh shareOut
	cliJSON(t, &sh, "share", src, "--home", a.Home)
	ctx := t.Context()
	if _, err := b.Client.AddDownload(ctx, api.DownloadRequest{CID: sh.CID, Name: "f.bin"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*e2eSecond, func() error {
		all, err := b.Client.Downloads(ctx)
		if err != nil {
			return err
		}
		if len(all) != 1 || all[0].State != "done" {
			return errState(all)
		}
		if !strings.HasSuffix(all[0].Output, "/downloads/f.bin") {
			t.Fatalf("output %s", all[0].Output)
		}
		return nil
	})
}
