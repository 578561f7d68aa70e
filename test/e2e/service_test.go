//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/testutil"
)

// serveTCP runs serve for each connection to a loopback listener until the
// test ends.
func serveTCP(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); serve(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// The printer, generalised: B fetches a page from an HTTP server bound to
// A's loopback through `service connect`, byte-identical; C, not allowed,
// is refused with a clear error and A's log names it; `service deny` cuts
// B's open connection at once; the exposure survives A's restart; the bytes
// show in `peerpath meter`.
func TestServiceShare(t *testing.T) {
	t.Parallel()
	page := testutil.SeededBytes(15, 200<<10)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(page) })}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(hln)
	t.Cleanup(func() { srv.Close() })
	echo := serveTCP(t, func(c net.Conn) { io.Copy(c, c) })

	a := startDaemon(t)
	aid := a.ID().ID
	b := startDaemon(t, "--bootstrap", a.Addr())
	c := startDaemon(t, "--bootstrap", a.Addr())
	bid, cid := b.ID().ID, c.ID().ID
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("A's log:\n%s\nB's log:\n%s", a.Out, b.Out)
		}
	})

	// Peers may be named by their contact names.
	if _, errOut, code := cli(t, "contacts", "add", bid, "--name", "bob", "--home", a.Home); code != 0 {
		t.Fatalf("contacts add: %s", errOut)
	}
	if _, errOut, code := cli(t, "contacts", "add", aid, "--name", "alice", "--home", b.Home); code != 0 {
		t.Fatalf("contacts add: %s", errOut)
	}
	var exposed api.Service
	cliJSON(t, &exposed, "service", "expose", "web", hln.Addr().String(), "--allow", "bob", "--home", a.Home)
	if exposed.Name != "web" || len(exposed.Allow) != 1 || exposed.Allow[0] != bid {
		t.Fatalf("expose: %+v", exposed)
	}
	cliJSON(t, &exposed, "service", "expose", "echo", echo, "--allow", bid, "--home", a.Home)
	// An address outside loopback and the LAN is refused by the API.
	if _, errOut, code := cli(t, "service", "expose", "dns", "8.8.8.8:53", "--allow", bid, "--home", a.Home); code == 0 || !strings.Contains(errOut, "only loopback or LAN") {
		t.Fatalf("exposing a public address: exit %d, %s", code, errOut)
	}

	var offers api.ServiceOffers
	cliJSON(t, &offers, "services", aid, "--home", b.Home)
	if len(offers.Services) != 2 || offers.Services[0].Name != "echo" || offers.Services[1].Name != "web" {
		t.Fatalf("services A offers B: %+v", offers)
	}
	cliJSON(t, &offers, "services", aid, "--home", c.Home)
	if len(offers.Services) != 0 {
		t.Fatalf("services A offers C: %+v", offers)
	}

	// B fetches the page through its forward, byte-identical.
	var fw api.Forward
	cliJSON(t, &fw, "service", "connect", "alice/web", "--home", b.Home)
	if !strings.HasPrefix(fw.Listen, "127.0.0.1:") {
		t.Fatalf("connect: %+v", fw)
	}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
	resp, err := client.Get("http://" + fw.Listen + "/")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, page) {
		t.Fatalf("page through the tunnel: %d bytes (%v), want %d identical", len(got), err, len(page))
	}

	// C is refused, clearly, and A's log says who tried.
	_, errOut, code := cli(t, "service", "connect", aid+"/web", "--home", c.Home)
	if code == 0 || !strings.Contains(errOut, `offers no service "web" to this node`) {
		t.Fatalf("C's connect: exit %d, %q", code, errOut)
	}
	eventually(t, 10*time.Second, func() error {
		for _, l := range lines(a.Out.String()) {
			if strings.Contains(l, "tunnel: refused a peer not allowed") && strings.Contains(l, cid) {
				return nil
			}
		}
		return fmt.Errorf("A's log does not name C as refused")
	})

	// Deny cuts B's open connection at once.
	var efw api.Forward
	cliJSON(t, &efw, "service", "connect", aid+"/echo", "--home", b.Home)
	conn, err := net.Dial("tcp", efw.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	fmt.Fprintln(conn, "ping")
	if l, err := r.ReadString('\n'); err != nil || l != "ping\n" {
		t.Fatalf("echo through the tunnel: %q, %v", l, err)
	}
	var denied api.ServiceDenied
	cliJSON(t, &denied, "service", "deny", "echo", bid, "--home", a.Home)
	start := time.Now()
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("B's connection still open after deny")
	}
	if d := time.Since(start); d > 5*time.Second || denied.Closed != 1 {
		t.Fatalf("deny closed %d connection(s); B's ended after %v", denied.Closed, d)
	}

	// The meter shows the bytes per service and peer on both sides.
	var ma, mb api.Meter
	cliJSON(t, &ma, "meter", "--home", a.Home)
	cliJSON(t, &mb, "meter", "--home", b.Home)
	if u := serviceUsageOf(ma, "web", bid, "exposed"); u.BytesOut < int64(len(page)) {
		t.Fatalf("A's meter for web/B: %+v (all: %+v)", u, ma.Services)
	}
	if u := serviceUsageOf(mb, "web", aid, "used"); u.BytesIn < int64(len(page)) {
		t.Fatalf("B's meter for web/A: %+v (all: %+v)", u, mb.Services)
	}

	// A restarts; the exposure (and who may use it) survives, and B
	// fetches the page again.
	a.Stop()
	a2 := startDaemonHome(t, a.Home)
	var list []api.Service
	cliJSON(t, &list, "service", "list", "--home", a2.Home)
	if len(list) != 2 || list[1].Name != "web" || list[1].Addr != hln.Addr().String() || len(list[1].Allow) != 1 || list[1].Allow[0] != bid {
		t.Fatalf("services after restart: %+v", list)
	}
	if len(list[0].Allow) != 0 {
		t.Fatalf("echo's allowlist after deny and restart: %v", list[0].Allow)
	}
	if _, errOut, code := cli(t, "connect", b.Addr(), "--home", a2.Home); code != 0 {
		t.Fatalf("reconnect: %s", errOut)
	}
	eventually(t, 20*time.Second, func() error {
		resp, err := client.Get("http://" + fw.Listen + "/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, page) {
			return fmt.Errorf("page after restart: %d bytes, %v", len(got), err)
		}
		return nil
	})
	var closed api.ForwardsClosed
	cliJSON(t, &closed, "service", "disconnect", aid+"/web", "--home", b.Home)
	if len(closed.Closed) != 1 || closed.Closed[0].Listen != fw.Listen {
		t.Fatalf("disconnect: %+v", closed)
	}
}

func serviceUsageOf(m api.Meter, service, peer, role string) api.ServiceUsage {
	for _, u := range m.Services {
		if u.Service == service && u.Peer == peer && u.Role == role {
			return u
		}
	}
	return api.ServiceUsage{}
}

// A 1 GiB copy through the tunnel arrives intact: the bytes B reads hash
// to what the service on A wrote.
func TestServiceBulkCopy(t *testing.T) {
	t.Parallel()
	const size = 1 << 30
	block := testutil.SeededBytes(16, 1<<20)
	sent := make(chan [32]byte, 1)
	addr := serveTCP(t, func(c net.Conn) {
		h := sha256.New()
		w := io.MultiWriter(c, h)
		buf := bytes.Clone(block)
		for i := range size / len(block) {
			// Every MiB differs, so a lost, repeated or reordered block
			// changes the hash.
			buf[0], buf[1], buf[2] = byte(i), byte(i>>8), byte(i>>16)
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		sent <- sum
	})
	a := startDaemon(t)
	aid := a.ID().ID
	b := startDaemon(t, "--bootstrap", a.Addr())
	var s api.Service
	cliJSON(t, &s, "service", "expose", "bulk", addr, "--allow", b.ID().ID, "--home", a.Home)
	var fw api.Forward
	cliJSON(t, &fw, "service", "connect", aid+"/bulk", "--home", b.Home)
	conn, err := net.Dial("tcp", fw.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Minute))
	start := time.Now()
	h := sha256.New()
	n, err := io.CopyBuffer(h, conn, make([]byte, 256<<10))
	if err != nil || n != size {
		t.Fatalf("copied %d bytes, %v; want %d", n, err, size)
	}
	var want [32]byte
	select {
	case want = <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("the service did not finish")
	}
	if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
		t.Fatalf("hash of what arrived %x, of what was sent %x", got, want)
	}
	t.Logf("1 GiB through the tunnel in %v (%.0f MB/s, hashing included)", time.Since(start), size/time.Since(start).Seconds()/1e6)
}

// In the browser: A exposes its web server to B on the Services page; B
// asks what A offers, connects with one click and copies the local address,
// through which the page arrives byte-identical; A denies B there. B's
// side runs at a phone's width (390 px).
func TestBrowserServices(t *testing.T) {
	t.Parallel()
	page := testutil.SeededBytes(17, 50<<10)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(page) })}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(hln)
	t.Cleanup(func() { srv.Close() })
	a := startDaemon(t)
	aid := a.ID().ID
	b := startDaemon(t, "--bootstrap", a.Addr())
	bid := b.ID().ID

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("A's log:\n%s\nB's log:\n%s", a.Out, b.Out)
		}
	})
	ab := newBrowser(t)
	ab.do(t,
		chromedp.Navigate(loginURL(t, a)),
		chromedp.WaitVisible(chromedp.CSS(`nav`)),
		chromedp.Click(chromedp.CSS(`a[href="#/services"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#expose-form`)),
		chromedp.SetValue(chromedp.CSS(`#svc-name`), "web"),
		chromedp.SetValue(chromedp.CSS(`#svc-addr`), hln.Addr().String()),
		chromedp.SetValue(chromedp.CSS(`#svc-allow`), bid),
		chromedp.Click(chromedp.CSS(`#expose-form button[type="submit"]`)),
	)
	denySel := fmt.Sprintf(`button[aria-label="Deny %s on web"]`, bid)
	if _, err := waitFor(ab, denySel, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	bb := newBrowser(t)
	bb.do(t,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(loginURL(t, b)),
		chromedp.WaitVisible(chromedp.CSS(`nav`)),
		chromedp.Click(chromedp.CSS(`a[href="#/services"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#offers-form`)),
		chromedp.SetValue(chromedp.CSS(`#offers-peer`), aid),
		chromedp.Click(chromedp.CSS(`#offers-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Connect to web"]`)),
		chromedp.Click(chromedp.CSS(`button[aria-label="Connect to web"]`)),
	)
	if _, err := waitFor(bb, `button[data-listen]`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	listen, err := chromedp.Run(bb.ctx, chromedp.Evaluate[string](`document.querySelector('button[data-listen]').dataset.listen`))
	if err != nil || !strings.HasPrefix(listen, "127.0.0.1:") {
		t.Fatalf("local address on the page: %q, %v", listen, err)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Get("http://" + listen + "/")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, page) {
		t.Fatalf("page through the forward the browser opened: %d bytes, %v", len(got), err)
	}

	ab.do(t, chromedp.Click(chromedp.CSS(denySel)))
	eventually(t, 30*time.Second, func() error {
		var list []api.Service
		cliJSON(t, &list, "service", "list", "--home", a.Home)
		if len(list) != 1 || len(list[0].Allow) != 0 {
			return fmt.Errorf("after deny in the browser: %+v", list)
		}
		return nil
	})
	if _, err := waitFor(ab, fmt.Sprintf(`button[aria-label="Allow %s on web"]`, bid), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	ab.noConsoleErrors(t)
	bb.noConsoleErrors(t)
}
