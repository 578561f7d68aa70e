//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/test/harness"
)

// demoNet is a running `peerpath demo`: its peers' homes, in order.
type demoNet struct {
	homes []string
	ids   []string
}

// runDemoNet runs `peerpath demo --peers 3` until the test ends and waits
// for its sample data (shares, ledger, listing, job).
func runDemoNet(t *testing.T) *demoNet {
	t.Helper()
	cmd := exec.Command(bin, "demo", "--peers", "3")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "demo ready") {
		select {
		case <-done:
			t.Fatalf("demo exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo not ready:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	d := &demoNet{}
	re := regexp.MustCompile(`(?m)^peer \d+\s+(\S+)\s+api \S+\s+home (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(out.String(), -1) {
		d.ids = append(d.ids, m[1])
		d.homes = append(d.homes, m[2])
	}
	if len(d.homes) != 3 || !strings.Contains(out.String(), "The Lighthouse Keeper") {
		t.Fatalf("demo output:\n%s", out.String())
	}
	return d
}

// browserAt is a logged-in headless Chromium on home's web app, width px
// wide.
func browserAt(t *testing.T, home string, width int64, dark bool) *browser {
	t.Helper()
	b := newBrowser(t)
	url, errOut, code := cli(t, "ui", "--print-url", "--home", home)
	if code != 0 {
		t.Fatal(errOut)
	}
	b.do(t,
		chromedp.EmulateViewport(width, 900),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			scheme := "light"
			if dark {
				scheme = "dark"
			}
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
			return err
		}),
		chromedp.Navigate(strings.TrimSpace(url)),
		chromedp.WaitVisible(chromedp.CSS(`nav a`)),
	)
	return b
}

// eval evaluates a JavaScript expression in b's page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// until polls a JavaScript condition that returns "" when met, else what
// it saw.
func until(t *testing.T, b *browser, d time.Duration, what, expr string) {
	t.Helper()
	eventually(t, d, func() error {
		if s := eval[string](t, b, expr); s != "" {
			return fmt.Errorf("%s: %s", what, s)
		}
		return nil
	})
}

func goTo(t *testing.T, b *browser, page string) {
	t.Helper()
	b.do(t, chromedp.Navigate("about:blank"))
	b.do(t, chromedp.Navigate(b.base+"/ui/#/"+page), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
}

// noOverflow fails when the page is wider than the window.
const noOverflow = `document.documentElement.scrollWidth > window.innerWidth + 1 ? "page " + document.documentElement.scrollWidth + " px wide in a " + window.innerWidth + " px window: " +
	[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest(".table-wrap")).slice(0, 3).map(e => e.tagName + "." + e.className + "#" + e.id + " " + Math.round(e.getBoundingClientRect().right)).join(", ") : ""`

// The web app on the demo, as a new user meets it, at a desktop (1400 px)
// and a phone (390 px) width: internal files never shown, Home's history
// full on arrival with axes, the Market open on listings without a query,
// the wallet as a statement, names through one helper, live events, the
// layout fitting the window and a dark theme that follows the system's.
// The CLI's side of the same points runs once.
func TestWebAppOnDemo(t *testing.T) {
	t.Parallel()
	d := runDemoNet(t)
	seller := d.homes[1] // peer 2 sells the Lighthouse Keeper

	t.Run("cli", func(t *testing.T) {
		t.Parallel()
		cliPoints(t, d)
	})
	for _, width := range []int64{1400, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			t.Parallel()
			b := browserAt(t, seller, width, width == 390)
			b.base = strings.TrimSpace(string(must(os.ReadFile(filepath.Join(seller, "api")))))

			// Home: the daemon's history fills the chart at once, with
			// axes; peers are shown by one helper (copy on click).
			goTo(t, b, "home")
			until(t, b, 20*time.Second, "bandwidth history", `(document.querySelector('[data-bind="bwspan"]')||{}).textContent ? "" : "no history span"`)
			until(t, b, 10*time.Second, "peer names", `document.querySelector('td button.peer[data-peer^="12D3"]') ? "" : "no peer button"`)
			if w := eval[float64](t, b, `document.querySelector("#bw").getBoundingClientRect().width`); w < float64(width)-200 && w < 700 || w > float64(width) {
				t.Errorf("chart %v px wide in a %d px window", w, width)
			}
			until(t, b, 5*time.Second, "home fits", noOverflow)
			if n := eval[int](t, b, `fetch("/api/v1/history").then(r => r.json()).then(h => h.samples.length)`); n < 2 {
				t.Errorf("history: %d samples", n)
			}
			// Home's shared count leaves out the market's files.
			until(t, b, 10*time.Second, "shared count", `(t => /^\d+ items?$/.test(t) ? "" : t)(document.querySelector('[data-bind="shared"]').textContent)`)

			// Shares: the seller's own shares only, no listing documents or
			// encrypted goods.
			goTo(t, b, "shares")
			until(t, b, 10*time.Second, "shares", `document.querySelectorAll('[data-bind="sharerows"] tr').length ? "" : "no rows"`)
			if txt := eval[string](t, b, `document.querySelector('[data-bind="sharerows"]').textContent`); strings.Contains(txt, ".pplisting") || strings.Contains(txt, ".ppgoods") {
				t.Errorf("shares page: %q", txt)
			}
			until(t, b, 5*time.Second, "shares fit", noOverflow)

			// Wallet: a statement with signed amounts, the running balance,
			// and listing an item shown as an event, not an amount.
			goTo(t, b, "wallet")
			until(t, b, 20*time.Second, "statement", `(rows => rows.some(r => r.classList.contains("event") && /Listed “The Lighthouse Keeper/.test(r.textContent) && r.cells[3].textContent === "event") ? "" : rows.map(r => r.textContent).join(" | "))([...document.querySelectorAll('[data-bind="histrows"] tr')])`)
			// The running balance goes back from today's balance to the
			// genesis's 100 credits.
			until(t, b, 5*time.Second, "running balance", `(rows => rows.length && /Opening balance/.test(rows[rows.length-1].textContent) && rows[rows.length-1].cells[4].textContent === "100" && rows.filter(r => !r.classList.contains("event"))[0].cells[4].textContent + " credits" === document.querySelector('[data-bind="wbalance"]').textContent ? "" : rows.map(r => r.textContent).join(" | "))([...document.querySelectorAll('[data-bind="histrows"] tr')])`)
			until(t, b, 5*time.Second, "wallet fits", noOverflow)

			// Market: listings shown on arrival, with no query typed, and
			// their tags to filter by.
			// (The seller's own listing is not for it to buy: look from peer 1.)
			b2 := browserAt(t, d.homes[0], width, width == 390)
			b2.base = strings.TrimSpace(string(must(os.ReadFile(filepath.Join(d.homes[0], "api")))))
			goTo(t, b2, "market")
			until(t, b2, 40*time.Second, "listings on arrival", `document.querySelector('button[aria-label^="Buy The Lighthouse Keeper"]') ? "" : document.querySelector('[data-bind="marketstatus"]').textContent`)
			b2.do(t, chromedp.Click(chromedp.CSS(`#market-tags button[aria-pressed="false"]`)))
			until(t, b2, 5*time.Second, "tag filter", `document.querySelector('#market-tags button[aria-pressed="true"]').textContent !== "All" ? "" : "no tag chosen"`)
			until(t, b2, 5*time.Second, "market fits", noOverflow)

			// Compute: a checkbox sits by its label.
			goTo(t, b, "compute")
			if w := eval[float64](t, b, `document.querySelector("#worker-enabled").getBoundingClientRect().width`); w > 30 {
				t.Errorf("the worker checkbox is %v px wide", w)
			}
			until(t, b, 5*time.Second, "compute fits", noOverflow)

			// Dark theme on the phone (the system's choice), light on the
			// desktop.
			lum := eval[float64](t, b, `(c => (c[0]*0.2126 + c[1]*0.7152 + c[2]*0.0722) / 255)(getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number))`)
			if dark := width == 390; dark != (lum < 0.3) {
				t.Errorf("background luminance %.2f with dark=%v", lum, dark)
			}

			// Live events: the tab receives the daemon's stats as
			// server-sent events.
			got := eval[string](t, b, `new Promise(res => { const es = new EventSource("/api/v1/events?types=stats"); es.onmessage = m => { const e = JSON.parse(m.data); if (e.type === "stats") { es.close(); res(e.type + " " + (typeof e.data.peers)); } }; setTimeout(() => { es.close(); res("none"); }, 12000); })`)
			if got != "stats number" {
				t.Errorf("events: %q", got)
			}
			b.noConsoleErrors(t)
			screenshots(t, b2, width)
		})
	}
}

// screenshots saves every page of the app, as b shows it, in the folder
// $PEERPATH_SCREENSHOTS (scripts/screenshots.sh sets it), as NAME.png at
// 1400 px and NAME-phone.png at 390 px. Without it, it does nothing.
func screenshots(t *testing.T, b *browser, width int64) {
	dir := os.Getenv("PEERPATH_SCREENSHOTS")
	if dir == "" {
		return
	}
	pages := eval[[]string](t, b, `[...document.querySelectorAll("nav a")].map(a => a.getAttribute("href").slice(2))`)
	for _, p := range pages {
		goTo(t, b, p)
		if p == "search" {
			b.do(t, chromedp.SendKeys(chromedp.CSS(`#search-q`), "music"))
		}
		b.do(t, chromedp.Sleep(3*time.Second))
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		name := p + ".png"
		if width < 600 {
			name = p + "-phone.png"
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// cliPoints checks the CLI's side of the web app's issue on the demo.
func cliPoints(t *testing.T, d *demoNet) {
	p1, p2, p3 := d.homes[0], d.homes[1], d.homes[2]
	// search: internal files never appear; each result once; "1 peer".
	eventually(t, 30*time.Second, func() error {
		out, _, _ := cli(t, "search", "lighthouse", "--home", p3)
		if !strings.Contains(out, "Lighthouse at dusk.png") {
			return fmt.Errorf("search: %q", out)
		}
		if strings.Contains(out, ".pplisting") || strings.Contains(out, ".ppgoods") {
			t.Fatalf("internal files in search: %q", out)
		}
		return nil
	})
	var hit api.SearchResult
	eventually(t, 30*time.Second, func() error {
		out, _, _ := cli(t, "search", "hey jude", "--home", p3)
		if !strings.Contains(out, "Hey Jude") {
			return fmt.Errorf("search: %q", out)
		}
		if strings.Count(out, "Hey Jude.mp3") != 1 || strings.Contains(out, "1 peers") || !strings.Contains(out, "1 peer)") {
			t.Fatalf("search output: %q", out)
		}
		js, _, _ := cli(t, "search", "hey jude", "--json", "--home", p3)
		return json.Unmarshal([]byte(harness.Lines(js)[0]), &hit)
	})
	// shares: none of the market's files.
	out, _, _ := cli(t, "shares", "--home", p2)
	if strings.Contains(out, ".pplisting") || strings.Contains(out, ".ppgoods") {
		t.Errorf("peerpath shares: %q", out)
	}
	// get without -o: saved under the name the search showed.
	dir := t.TempDir()
	cmd := exec.Command(bin, "get", hit.CID, "--home", p3, "--json")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("get: %v %s", err, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "The Beatles - Hey Jude.mp3")); err != nil {
		ls, _ := os.ReadDir(dir)
		t.Errorf("get without -o: %v (folder has %v)", err, ls)
	}
	// Errors in plain words with the next step.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"get", "notacid", "--home", p3}, []string{"bad content id", "peerpath search"}},
		{[]string{"wallet", "send", d.ids[0], "1.1234567", "--home", p3}, []string{"at most 6 decimal places"}},
	} {
		_, errOut, code := cli(t, tc.args...)
		for _, w := range tc.want {
			if code == 0 || !strings.Contains(errOut, w) {
				t.Errorf("%v: %d %q, want %q", tc.args, code, errOut, w)
			}
		}
	}
	var listing string
	eventually(t, 40*time.Second, func() error {
		var ls []api.MarketListing
		cliJSON(t, &ls, "market", "listings", "--home", p2)
		if len(ls) == 0 {
			return fmt.Errorf("no listing yet")
		}
		listing = ls[0].ID
		return nil
	})
	if _, errOut, code := cli(t, "market", "buy", listing, "--home", p2); code == 0 || !strings.Contains(errOut, "your own listing") || !strings.Contains(errOut, "withdraw") {
		t.Errorf("buying one's own listing: %d %q", code, errOut)
	}
	// Buying twice says so the second time.
	o := filepath.Join(t.TempDir(), "story.txt")
	if _, errOut, code := cli(t, "market", "buy", listing, "-o", o, "--home", p1); code != 0 {
		t.Fatalf("buy: %s", errOut)
	}
	if out, errOut, code := cli(t, "market", "buy", listing, "-o", o, "--home", p1); code != 0 || !strings.Contains(out, "already bought") {
		t.Errorf("second buy: %d %q %q", code, out, errOut)
	}
	// peerpath ui prints the link even when the opener says it worked.
	fake := t.TempDir()
	os.WriteFile(filepath.Join(fake, "xdg-open"), []byte("#!/bin/sh\nexit 0\n"), 0o755)
	ui := exec.Command(bin, "ui", "--home", p1)
	ui.Env = append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"), "DISPLAY=:99", "BROWSER=")
	if b, err := ui.CombinedOutput(); err != nil || !strings.Contains(string(b), "/ui/login?code=") {
		t.Errorf("peerpath ui: %v %q", err, b)
	}
	ui = exec.Command(bin, "ui", "--home", p1)
	ui.Env = append(os.Environ(), "DISPLAY=", "WAYLAND_DISPLAY=", "BROWSER=")
	if b, err := ui.CombinedOutput(); err != nil || !strings.Contains(string(b), "No display") || !strings.Contains(string(b), "/ui/login?code=") {
		t.Errorf("peerpath ui without a display: %v %q", err, b)
	}
}
