//go:build linux

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
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
