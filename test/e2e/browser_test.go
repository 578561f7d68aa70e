package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium, which scripts/test.sh installs.
func chromiumPath(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("chromium not found: run scripts/test.sh, which installs it (apt-get install chromium)")
	return ""
}

// browser is a headless Chromium tab with a record of console errors.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	// The first action starts the browser; it must run on a context with no
	// deadline (the deadline would stop the browser).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancelC()
		cancelA()
		t.Fatalf("starting chromium: %v", err)
	}
	tctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	b := &browser{ctx: tctx}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(tctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errors = append(b.errors, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancelT(); cancelC(); cancelA(); <-done })
	return b
}

func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func (b *browser) noConsoleErrors(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) > 0 {
		t.Fatalf("console errors: %v", b.errors)
	}
}

func loginURL(t *testing.T, d *daemon) string {
	t.Helper()
	out, errOut, code := cli(t, "ui", "--print-url", "--home", d.home)
	if code != 0 {
		t.Fatal(errOut)
	}
	return strings.TrimSpace(out)
}

// In the browser alone: log in with the one-time URL, search the network
// as you type, download a result with a progress bar, and find the file on
// disk; submit a job from a .wasm file and watch its result tiles appear.
func TestBrowserSearchDownloadAndCompute(t *testing.T) {
	a := startDaemon(t, "--worker")
	b := startDaemon(t, "--bootstrap", a.addr(), "--worker")
	dir := t.TempDir()
	song := writeRandom(t, filepath.Join(dir, "music", "The Beatles - Hey Jude.mp3"), 3<<20)
	writeRandom(t, filepath.Join(dir, "music", "Nina Simone - Feeling Good.ogg"), 1<<20)
	var sh shareOut
	cliJSON(t, &sh, "share", filepath.Join(dir, "music"), "--home", a.home)
	// Wait until the network search finds it (keyword records announced).
	eventually(t, 30*time.Second, func() error {
		out, _, _ := cli(t, "search", "hey jude", "--json", "--timeout", "2s", "--home", b.home)
		if !strings.Contains(out, "Hey Jude") {
			return fmt.Errorf("not found yet")
		}
		return nil
	})

	br := newBrowser(t)
	br.do(t,
		chromedp.Navigate(loginURL(t, b)),
		chromedp.WaitVisible(chromedp.CSS(`nav`)),
	)
	title, err := chromedp.Run(br.ctx, chromedp.Title())
	if err != nil || !strings.HasPrefix(title, "peerpath") {
		t.Fatalf("title %q", title)
	}

	// Search as you type, then download.
	br.do(t,
		chromedp.Click(chromedp.CSS(`a[href="#/search"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#search-q`)),
		chromedp.SendKeys(chromedp.CSS(`#search-q`), "beatles hey jude"),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Download The Beatles - Hey Jude.mp3"]`)),
		chromedp.Click(chromedp.CSS(`button[aria-label="Download The Beatles - Hey Jude.mp3"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a.done-link`)),
	)
	got, err := os.ReadFile(filepath.Join(b.home, "downloads", "The Beatles - Hey Jude.mp3"))
	if err != nil || !bytes.Equal(got, song) {
		t.Fatalf("downloaded file: %v", err)
	}

	// Submit a job from a .wasm file; its tiles appear as they validate.
	wasm := buildWasm(t, "../../examples/mandelbrot")
	br.do(t,
		chromedp.Click(chromedp.CSS(`a[href="#/compute"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#job-module`)),
		chromedp.SetUploadFiles(chromedp.CSS(`#job-module`), []string{wasm}),
		chromedp.SetValue(chromedp.CSS(`#job-count`), "4"),
		chromedp.Click(chromedp.CSS(`#job-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#result-images img[data-unit="3"]`)),
	)
	tiles, err := chromedp.Run(br.ctx, chromedp.Evaluate[int](`document.querySelectorAll("#result-images img").length`))
	if err != nil {
		t.Fatal(err)
	}
	if tiles != 4 {
		t.Fatalf("%d tiles shown, want 4", tiles)
	}
	br.noConsoleErrors(t)
}
