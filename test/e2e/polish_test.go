//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/peerpath/peerpath/api"
)

// loggedIn is a browser logged in to d's web app, on Home; block, when
// not empty, are URL patterns the browser refuses to load (set before
// the app loads).
func loggedIn(t *testing.T, d *daemon, block ...string) *browser {
	t.Helper()
	b := newBrowser(t)
	if len(block) > 0 {
		b.do(t, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			var ps []*network.BlockPattern
			for _, p := range block {
				ps = append(ps, &network.BlockPattern{URLPattern: p, Block: true})
			}
			_, err := cdp.Call(ctx, tg, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: ps})
			return err
		}))
	}
	b.do(t, chromedp.Navigate(loginURL(t, d)), chromedp.WaitVisible(chromedp.CSS(`nav a`)))
	b.base = strings.TrimSpace(string(must(os.ReadFile(filepath.Join(d.Home, "api")))))
	return b
}

// recordFetches makes the page record each URL it fetches, with the time,
// in window.__fetches.
const recordFetches = `(() => {
	window.__fetches = [];
	const f = window.fetch;
	window.fetch = function(u) { window.__fetches.push([performance.now(), String(u)]); return f.apply(this, arguments); };
	return "";
})()`

// A stream of events (a busy download sends one a second per change, and
// here 600 in 3 s) redraws Home at most once every 250 ms, never two at
// once, and once more after the last event, so the final state shows.
func TestBrowserHomeCoalescesRedraws(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	b := loggedIn(t, d)
	goTo(t, b, "home")
	until(t, b, 10*time.Second, "home drawn", `document.querySelector('[data-bind="peers"]').textContent !== "–" ? "" : "not yet"`)
	b.do(t, chromedp.Sleep(500*time.Millisecond))
	eval[string](t, b, recordFetches)
	res := eval[string](t, b, `(async () => {
		const core = await import("/ui/core.js");
		const t0 = performance.now();
		while (performance.now() - t0 < 3000) {
			core.emit({ type: "download.changed", data: [] });
			await new Promise(r => setTimeout(r, 5));
		}
		window.__lastEmit = performance.now();
		return JSON.stringify({ t0, span: window.__lastEmit - t0 });
	})()`)
	b.do(t, chromedp.Sleep(1500*time.Millisecond))
	var stats struct {
		T0, Span float64
	}
	if err := jsonUnmarshal([]byte(res), &stats); err != nil {
		t.Fatal(err)
	}
	// Each redraw of Home fetches /status once.
	n := eval[int](t, b, `window.__fetches.filter(f => f[1].endsWith("/api/v1/status")).length`)
	last := eval[float64](t, b, `Math.max(...window.__fetches.filter(f => f[1].endsWith("/api/v1/status")).map(f => f[0]))`)
	limit := int(stats.Span/250) + 3 // + the trailing redraw, a poll and a stats event
	if n < 2 || n > limit {
		t.Errorf("Home redrew %d times for %.0f ms of events (at most %d allowed)", n, stats.Span, limit)
	}
	if lastEmit := eval[float64](t, b, `window.__lastEmit`); last < lastEmit {
		t.Errorf("no redraw after the last event (last at %.0f ms, last event at %.0f ms)", last, lastEmit)
	}
	b.noConsoleErrors(t)
}

// With the event stream unavailable, the Compute and Search pages update
// by polling: a job submitted from the CLI appears, and a download
// started from a search result ends shown as done.
func TestBrowserPollingFallback(t *testing.T) {
	t.Parallel()
	a := startDaemon(t)
	bd := startDaemon(t, "--bootstrap", a.Addr())
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "Kind of Blue - So What.flac"), 1<<20)
	var sh shareOut
	cliJSON(t, &sh, "share", dir, "--home", a.Home)
	eventually(t, 30*time.Second, func() error {
		out, _, _ := cli(t, "search", "kind of blue", "--json", "--timeout", "2s", "--home", bd.Home)
		if !strings.Contains(out, "So What") {
			return fmt.Errorf("not found yet")
		}
		return nil
	})
	b := loggedIn(t, bd, "*://*:*/api/v1/events*")

	// Compute: a job submitted elsewhere shows without events.
	goTo(t, b, "compute")
	eval[string](t, b, recordFetches)
	out, errOut, code := cli(t, "job", "submit", "../../examples/c/primes.wasm", "--count", "2", "--json", "--home", bd.Home)
	var job struct {
		ID string `json:"id"`
	}
	if code != 0 || jsonUnmarshal([]byte(strings.TrimSpace(out)), &job) != nil || job.ID == "" {
		t.Fatalf("job submit: %q %q", out, errOut)
	}
	until(t, b, 15*time.Second, "a job submitted elsewhere shows, by polling", fmt.Sprintf(`[...document.querySelectorAll('[data-bind="jobrows"] td.id')].some(td => td.textContent === %q) ? "" : "not shown"`, job.ID))
	if n := eval[int](t, b, `window.__fetches.filter(f => f[1].split("?")[0].endsWith("/api/v1/jobs")).length`); n < 1 {
		t.Fatalf("the compute page showed the job without fetching /jobs (%d)", n)
	}
	if live := eval[bool](t, b, `import("/ui/core.js").then(c => c.eventsLive())`); live {
		t.Fatal("the event stream is open: the test proves nothing")
	}

	// Search: a download started from a result ends shown as done.
	goTo(t, b, "search")
	eval[string](t, b, recordFetches)
	b.do(t,
		chromedp.WaitVisible(chromedp.CSS(`#search-q`)),
		chromedp.SendKeys(chromedp.CSS(`#search-q`), "kind of blue"),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Download Kind of Blue - So What.flac"]`)),
		chromedp.Click(chromedp.CSS(`button[aria-label="Download Kind of Blue - So What.flac"]`)),
	)
	until(t, b, 20*time.Second, "the download shown done, by polling", `document.querySelector("a.done-link") ? "" : "not done: " + [...document.querySelectorAll("td[data-cid]")].map(td => td.textContent).join(" | ")`)
	if n := eval[int](t, b, `window.__fetches.filter(f => f[1].split("?")[0].endsWith("/api/v1/downloads")).length`); n < 2 {
		t.Errorf("the search page fetched /downloads %d times: it did not poll", n)
	}
	b.noConsoleErrors(t)
}

// The Settings page shows the content policy, refuses a content id with
// a reason (a list of its own, which the CLI sees), says so when what was
// given is not a content id, and removes a list.
func TestBrowserSettingsPolicy(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "leak.bin"), 64<<10)
	var sh shareOut
	cliJSON(t, &sh, "share", filepath.Join(dir, "leak.bin"), "--home", d.Home)
	b := loggedIn(t, d)
	goTo(t, b, "settings")
	eval[string](t, b, `(window.confirm = () => true, "")`)
	until(t, b, 10*time.Second, "no list yet", `(document.querySelector('[data-bind="policysum"]') || {}).textContent?.startsWith("No denylist") ? "" : "summary: " + (document.querySelector('[data-bind="policysum"]') || {}).textContent`)
	b.do(t,
		chromedp.SendKeys(chromedp.CSS(`#policy-cid`), sh.CID),
		chromedp.SendKeys(chromedp.CSS(`#policy-reason`), "copyright notice 42"),
		chromedp.Click(chromedp.CSS(`#policy-form button[type="submit"]`)),
	)
	var pol api.Policy
	eventually(t, 10*time.Second, func() error {
		cliJSON(t, &pol, "policy", "--home", d.Home)
		if len(pol.Lists) != 1 || pol.Deny != 1 || pol.Lists[0].Description != "copyright notice 42" {
			return fmt.Errorf("policy %+v", pol)
		}
		return nil
	})
	until(t, b, 10*time.Second, "the list shown with its reason", `(r => r && r.cells[1].textContent === "copyright notice 42" && r.cells[2].textContent === "1" ? "" : r ? r.textContent : "no row")(document.querySelector('[data-bind="policyrows"] tr'))`)
	// Refused: the node no longer lists it among what it serves by id.
	if _, errOut, code := cli(t, "get", sh.CID, "-o", filepath.Join(t.TempDir(), "x"), "--home", d.Home); code == 0 {
		t.Errorf("get of a refused id succeeded: %s", errOut)
	}
	// Not a content id: said, and nothing left loaded.
	b.do(t,
		chromedp.SendKeys(chromedp.CSS(`#policy-cid`), "not-a-cid"),
		chromedp.SendKeys(chromedp.CSS(`#policy-reason`), "typo"),
		chromedp.Click(chromedp.CSS(`#policy-form button[type="submit"]`)),
	)
	until(t, b, 10*time.Second, "a bad id reported", `document.getElementById("toast").textContent.startsWith("Not a content id") ? "" : "toast: " + document.getElementById("toast").textContent`)
	cliJSON(t, &pol, "policy", "--home", d.Home)
	if len(pol.Lists) != 1 {
		t.Fatalf("after a bad id: %+v", pol)
	}
	// Remove.
	b.do(t, chromedp.Click(chromedp.CSS(`[data-bind="policyrows"] button[aria-label^="Remove denylist"]`)))
	eventually(t, 10*time.Second, func() error {
		cliJSON(t, &pol, "policy", "--home", d.Home)
		if len(pol.Lists) != 0 {
			return fmt.Errorf("policy %+v", pol)
		}
		return nil
	})
	until(t, b, 10*time.Second, "no row left", `document.querySelectorAll('[data-bind="policyrows"] tr').length === 0 ? "" : "rows left"`)
	b.noConsoleErrors(t)
}
