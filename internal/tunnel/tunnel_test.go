package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/testutil"
)

type node struct {
	h   host.Host
	svc *Service
	dir string
}

// fakeMeter records what the tunnel meters.
type fakeMeter struct {
	mu             sync.Mutex
	sent, received map[peer.ID]int64
}

func (m *fakeMeter) Sent(p peer.ID, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sent == nil {
		m.sent = map[peer.ID]int64{}
	}
	m.sent[p] += int64(n)
}

func (m *fakeMeter) Received(p peer.ID, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.received == nil {
		m.received = map[peer.ID]int64{}
	}
	m.received[p] += int64(n)
}

func newNode(t testing.TB, mod func(*Config)) *node {
	t.Helper()
	h, err := p2p.NewLoopbackHost(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Config{Host: h, Path: filepath.Join(dir, "services.json")}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
		h.Close()
	})
	return &node{h: h, svc: svc, dir: dir}
}

func connect(t testing.TB, a, b *node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.h.Connect(ctx, peer.AddrInfo{ID: a.h.ID(), Addrs: a.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// listen starts a TCP server on loopback that runs serve for each
// connection; it is closed when the test ends.
func listen(t testing.TB, serve func(net.Conn)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Go(func() { defer c.Close(); serve(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String(), &accepted
}

func pair(t *testing.T) (owner, user *node) {
	owner, user = newNode(t, nil), newNode(t, nil)
	connect(t, owner, user)
	return owner, user
}

// An HTTP keep-alive client fetches a page from a server bound to the
// owner's loopback through the forward, byte-identical, over one reused
// connection; both ends count the bytes per peer.
func TestForwardHTTPKeepAlive(t *testing.T) {
	owner, user := pair(t)
	page := testutil.SeededBytes(1, 300<<10)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(page) })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	ctx := tctx(t)
	if _, err := owner.svc.Expose(ctx, "web", ln.Addr().String(), []string{user.h.ID().String()}, 0); err != nil {
		t.Fatal(err)
	}
	fw, err := user.svc.Connect(ctx, owner.h.ID().String(), "web", "")
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	reused := 0
	const n = 10
	for i := range n {
		trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
			if ci.Reused {
				reused++
			}
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "GET", "http://"+fw.Listen+"/", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(body, page) {
			t.Fatalf("request %d: %d bytes, err %v; want the page", i, len(body), err)
		}
	}
	if reused != n-1 {
		t.Fatalf("%d of %d requests reused the connection", reused, n-1)
	}
	testutil.Eventually(t, 5*time.Second, "byte counts", func() bool {
		l := owner.svc.List()
		fs := user.svc.Forwards()
		return len(l) == 1 && len(l[0].Peers) == 1 && l[0].Peers[0].Peer == user.h.ID() &&
			l[0].Peers[0].BytesOut >= n*int64(len(page)) && l[0].Peers[0].BytesIn > 0 &&
			len(fs) == 1 && fs[0].BytesIn == l[0].Peers[0].BytesOut && fs[0].BytesOut == l[0].Peers[0].BytesIn
	})
}

// Half-close works both ways: the client sends, closes its write half and
// still reads the answer; the service answers, closes its write half and
// still reads what the client sends after.
func TestHalfClose(t *testing.T) {
	owner, user := pair(t)
	addr, _ := listen(t, func(c net.Conn) {
		// Read to EOF, answer with the hash, close the write half, then
		// echo whatever else comes (nothing: the client closed).
		h := sha256.New()
		io.Copy(h, c)
		c.Write(h.Sum(nil))
		c.(*net.TCPConn).CloseWrite()
	})
	addr2, _ := listen(t, func(c net.Conn) {
		// Say hello, close the write half, then count what the client
		// sends and answer nothing more (the count is checked through
		// the tunnel's byte counters).
		c.Write([]byte("hello"))
		c.(*net.TCPConn).CloseWrite()
		n, _ := io.Copy(io.Discard, c)
		if n != 1<<20 {
			t.Errorf("service read %d bytes after its close-write, want %d", n, 1<<20)
		}
	})
	ctx := tctx(t)
	uid := user.h.ID().String()
	owner.svc.Expose(ctx, "hash", addr, []string{uid}, 0)
	owner.svc.Expose(ctx, "hello", addr2, []string{uid}, 0)
	f1, err := user.svc.Connect(ctx, owner.h.ID().String(), "hash", "")
	if err != nil {
		t.Fatal(err)
	}
	f2, err := user.svc.Connect(ctx, owner.h.ID().String(), "hello", "")
	if err != nil {
		t.Fatal(err)
	}

	data := testutil.SeededBytes(2, 3<<20)
	c, err := net.Dial("tcp", f1.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() { c.Write(data); c.(*net.TCPConn).CloseWrite() }()
	got, err := io.ReadAll(c)
	want := sha256.Sum256(data)
	if err != nil || !bytes.Equal(got, want[:]) {
		t.Fatalf("answer after close-write: %x, %v; want %x", got, err, want)
	}

	c2, err := net.Dial("tcp", f2.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(20 * time.Second))
	hello, err := io.ReadAll(c2) // ends at the service's close-write
	if err != nil || string(hello) != "hello" {
		t.Fatalf("read %q, %v", hello, err)
	}
	if _, err := c2.Write(make([]byte, 1<<20)); err != nil {
		t.Fatalf("write after the service's close-write: %v", err)
	}
	c2.(*net.TCPConn).CloseWrite()
	testutil.Eventually(t, 10*time.Second, "bytes after close-write reach the service", func() bool {
		for _, e := range owner.svc.List() {
			if e.Name == "hello" && len(e.Peers) == 1 && e.Peers[0].BytesIn == 1<<20 && e.Peers[0].Conns == 0 {
				return true
			}
		}
		return false
	})
}

// A peer that is not allowed is refused at connect time with a clear error,
// and a raw open request from it never makes the owner dial its service;
// the owner's list shows it nothing.
func TestNotAllowedRefused(t *testing.T) {
	owner, user := pair(t)
	other := newNode(t, nil)
	connect(t, owner, other)
	addr, accepted := listen(t, func(c net.Conn) { io.Copy(c, c) })
	ctx := tctx(t)
	if _, err := owner.svc.Expose(ctx, "echo", addr, []string{user.h.ID().String()}, 0); err != nil {
		t.Fatal(err)
	}
	_, err := other.svc.Connect(ctx, owner.h.ID().String(), "echo", "")
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `no service "echo"`) {
		t.Fatalf("connect by a peer not allowed: %v", err)
	}
	_, offers, err := other.svc.Offers(ctx, owner.h.ID().String())
	if err != nil || len(offers) != 0 {
		t.Fatalf("offers to a peer not allowed: %v, %v", offers, err)
	}
	// Straight to open, skipping list.
	_, _, err = other.svc.request(ctx, owner.h.ID(), Request{Op: OpOpen, Service: "echo"})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not offered to you") {
		t.Fatalf("raw open by a peer not allowed: %v", err)
	}
	// An unknown name gets the same answer.
	_, _, err2 := other.svc.request(ctx, owner.h.ID(), Request{Op: OpOpen, Service: "nosuch"})
	if !errors.Is(err2, ErrRefused) {
		t.Fatalf("open of an unknown service: %v", err2)
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the owner dialled its service %d times for a peer not allowed", n)
	}
	// The allowed peer gets through.
	_, offers, err = user.svc.Offers(ctx, owner.h.ID().String())
	if err != nil || len(offers) != 1 || offers[0].Name != "echo" {
		t.Fatalf("offers to the allowed peer: %v, %v", offers, err)
	}
}

// Deny closes the denied peer's open connection at once; Allow lets it in
// again; Remove closes everything.
func TestDenyCutsOpenConnections(t *testing.T) {
	owner, user := pair(t)
	addr, _ := listen(t, func(c net.Conn) { io.Copy(c, c) })
	ctx := tctx(t)
	uid := user.h.ID().String()
	owner.svc.Expose(ctx, "echo", addr, []string{uid}, 0)
	fw, err := user.svc.Connect(ctx, owner.h.ID().String(), "echo", "")
	if err != nil {
		t.Fatal(err)
	}
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", fw.Listen)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintln(c, "ping")
		r := bufio.NewReader(c)
		if l, err := r.ReadString('\n'); err != nil || l != "ping\n" {
			t.Fatalf("echo: %q, %v", l, err)
		}
		return c, r
	}
	c, r := dial()
	_, cut, err := owner.svc.Deny(ctx, "echo", uid)
	if err != nil || cut != 1 {
		t.Fatalf("deny: closed %d, %v", cut, err)
	}
	start := time.Now()
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("the denied connection still reads")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the denied connection closed after %v", d)
	}
	c.Close()
	// A new connection is refused; the forward records why.
	c2, err := net.Dial("tcp", fw.Listen)
	if err != nil {
		t.Fatal(err)
	}
	c2.SetDeadline(time.Now().Add(20 * time.Second))
	if n, err := c2.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a denied peer's new connection read %d bytes", n)
	}
	c2.Close()
	testutil.Eventually(t, 5*time.Second, "the forward's last error", func() bool {
		fs := user.svc.Forwards()
		return len(fs) == 1 && strings.Contains(fs[0].LastError, "not offered to you")
	})

	if _, err := owner.svc.Allow(ctx, "echo", uid); err != nil {
		t.Fatal(err)
	}
	dial()
	if err := owner.svc.Remove(ctx, "echo"); err != nil {
		t.Fatal(err)
	}
	if len(owner.svc.List()) != 0 {
		t.Fatal("removed service still listed")
	}
	if _, err := user.svc.Disconnect(ctx, owner.h.ID().String()+"/echo"); err != nil {
		t.Fatal(err)
	}
	if len(user.svc.Forwards()) != 0 {
		t.Fatal("forward still listed after disconnect")
	}
	if _, err := net.Dial("tcp", fw.Listen); err == nil {
		t.Fatal("the forward still listens after disconnect")
	}
}

// Exposures and their byte counts survive a restart; a file that is not a
// services file is refused, naming it.
func TestExposuresSaved(t *testing.T) {
	h, err := p2p.NewLoopbackHost(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	path := filepath.Join(t.TempDir(), "services.json")
	s, err := New(Config{Host: h, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx := tctx(t)
	p1, p2 := peerID(t), peerID(t)
	if _, err := s.Expose(ctx, "printer", "127.0.0.1:631", []string{p1.String(), p2.String()}, 5); err != nil {
		t.Fatal(err)
	}
	s.Deny(ctx, "printer", p2.String())
	s.Expose(ctx, "nas", "192.168.1.20:445", nil, 0)
	before := s.List()
	s.Close()

	s2, err := New(Config{Host: h, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	after := s2.List()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("after restart:\n%v\nbefore:\n%v", after, before)
	}
	if len(after) != 2 || len(after[1].Allow) != 1 || after[1].Allow[0] != p1 || after[1].PricePerGiB != 5 {
		t.Fatalf("saved services: %+v", after)
	}

	bad := filepath.Join(t.TempDir(), "services.json")
	writeFile(t, bad, "{not json")
	if _, err := New(Config{Host: h, Path: bad}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("a broken services file: %v", err)
	}
}

func TestExposeChecks(t *testing.T) {
	h, err := p2p.NewLoopbackHost(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	s, err := New(Config{Host: h, Path: filepath.Join(t.TempDir(), "s.json"), Forbidden: []string{"127.0.0.1:5101"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := tctx(t)
	p := peerID(t).String()
	for _, c := range []struct{ name, addr, allow, want string }{
		{"web", "8.8.8.8:80", p, "only loopback or LAN"},
		{"web", "example.com:80", p, "not a name"},
		{"web", "0.0.0.0:80", p, "only loopback or LAN"},
		{"web", "127.0.0.1:0", p, "port"},
		{"web", "127.0.0.1", p, "HOST:PORT"},
		{"web", "[::1]:5101", p, "own API"},
		{"web", "127.0.0.2:5101", p, "own API"},
		{"../x", "127.0.0.1:80", p, "service name"},
		{"web", "127.0.0.1:80", "nobody", "not a peer id"},
		{"web", "127.0.0.1:80", h.ID().String(), "this node itself"},
	} {
		if _, err := s.Expose(ctx, c.name, c.addr, []string{c.allow}, 0); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Expose(%q, %q, %q): %v; want %q", c.name, c.addr, c.allow, err, c.want)
		}
	}
	for _, ok := range []string{"127.0.0.1:631", "localhost:22", "[::1]:8080", "10.0.0.5:80", "172.16.3.4:80", "192.168.0.9:80", "[fd00::1]:80"} {
		if _, err := CheckAddr(ok); err != nil {
			t.Errorf("CheckAddr(%q): %v", ok, err)
		}
	}
	if _, err := s.Expose(ctx, "ssh", "127.0.0.1:22", []string{p}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expose(ctx, "ssh", "127.0.0.1:23", []string{p}, 0); !errors.Is(err, ErrExists) {
		t.Fatalf("exposing a name twice: %v", err)
	}
	for _, l := range []string{"0.0.0.0:0", "192.168.1.1:8080", "example.com:1"} {
		if _, err := CheckListen(l); err == nil {
			t.Errorf("CheckListen(%q) accepted", l)
		}
	}
}

// A priced service's bytes reach both nodes' traffic meters, and a node
// whose receipts pay less than the price is refused before it connects.
func TestPricedServiceMetered(t *testing.T) {
	mo, mu := &fakeMeter{}, &fakeMeter{}
	owner := newNode(t, func(c *Config) { c.Meter = mo })
	user := newNode(t, func(c *Config) { c.Meter = mu; c.PaysPerGiB = 100 })
	cheap := newNode(t, func(c *Config) { c.PaysPerGiB = 10 })
	connect(t, owner, user)
	connect(t, owner, cheap)
	addr, _ := listen(t, func(c net.Conn) { io.Copy(c, c) })
	ctx := tctx(t)
	owner.svc.Expose(ctx, "echo", addr, []string{user.h.ID().String(), cheap.h.ID().String()}, 50)
	if _, err := cheap.svc.Connect(ctx, owner.h.ID().String(), "echo", ""); !errors.Is(err, ErrPrice) {
		t.Fatalf("connect to a service above this node's price: %v", err)
	}
	fw, err := user.svc.Connect(ctx, owner.h.ID().String(), "echo", "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", fw.Listen)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() { c.Write(make([]byte, 100_000)); c.(*net.TCPConn).CloseWrite() }()
	n, _ := io.Copy(io.Discard, c)
	c.Close()
	if n != 100_000 {
		t.Fatalf("echoed %d bytes", n)
	}
	testutil.Eventually(t, 5*time.Second, "metered bytes", func() bool {
		mo.mu.Lock()
		defer mo.mu.Unlock()
		mu.mu.Lock()
		defer mu.mu.Unlock()
		return mo.sent[user.h.ID()] == 200_000 && mu.received[owner.h.ID()] == 200_000
	})
}

// Connections beyond a peer's limit are refused as busy, and the forward
// says so.
func TestPerPeerLimit(t *testing.T) {
	owner := newNode(t, func(c *Config) { c.PerPeer = 2 })
	user := newNode(t, nil)
	connect(t, owner, user)
	addr, _ := listen(t, func(c net.Conn) { io.Copy(c, c) })
	ctx := tctx(t)
	owner.svc.Expose(ctx, "echo", addr, []string{user.h.ID().String()}, 0)
	fw, err := user.svc.Connect(ctx, owner.h.ID().String(), "echo", "")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", fw.Listen)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := net.Dial("tcp", fw.Listen)
	if err != nil {
		t.Fatal(err)
	}
	conns = append(conns, c)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection was carried past a limit of two")
	}
	testutil.Eventually(t, 5*time.Second, "busy error", func() bool {
		fs := user.svc.Forwards()
		return len(fs) == 1 && strings.Contains(fs[0].LastError, "busy")
	})
}

// Peers may be named through Config.Resolve (the node's contacts); a name
// it does not know is refused, clearly.
func TestResolveNames(t *testing.T) {
	user := newNode(t, nil)
	owner := newNode(t, func(c *Config) {
		c.Resolve = func(_ context.Context, who string) (peer.ID, error) {
			if who == "bob" {
				return user.h.ID(), nil
			}
			return peer.Decode(who)
		}
	})
	ctx := tctx(t)
	e, err := owner.svc.Expose(ctx, "web", "127.0.0.1:8080", []string{"bob"}, 0)
	if err != nil || len(e.Allow) != 1 || e.Allow[0] != user.h.ID() {
		t.Fatalf("expose to bob: %+v, %v", e, err)
	}
	if _, err := owner.svc.Allow(ctx, "web", "carol"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "contact's name") {
		t.Fatalf("allow an unknown name: %v", err)
	}
}

// With an idle timeout set by the owner, a connection that moves nothing
// for that long is closed, one that keeps talking is not; the setting is
// saved. Without one (the default), nothing closes an idle connection.
func TestIdleTimeout(t *testing.T) {
	owner, user := pair(t)
	addr, _ := listen(t, func(c net.Conn) { io.Copy(c, c) })
	ctx := tctx(t)
	uid := user.h.ID().String()
	owner.svc.Expose(ctx, "echo", addr, []string{uid}, 0)
	owner.svc.Expose(ctx, "forever", addr, []string{uid}, 0)
	if e, err := owner.svc.SetIdleTimeout(ctx, "echo", 400*time.Millisecond); err != nil || e.IdleTimeout != 400*time.Millisecond {
		t.Fatalf("set idle timeout: %+v, %v", e, err)
	}
	fw, err := user.svc.Connect(ctx, owner.h.ID().String(), "echo", "")
	if err != nil {
		t.Fatal(err)
	}
	fw2, err := user.svc.Connect(ctx, owner.h.ID().String(), "forever", "")
	if err != nil {
		t.Fatal(err)
	}
	dial := func(addr string) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		return c, bufio.NewReader(c)
	}
	ping := func(c net.Conn, r *bufio.Reader) error {
		fmt.Fprintln(c, "ping")
		_, err := r.ReadString('\n')
		return err
	}
	busy, br := dial(fw.Listen)
	idle, ir := dial(fw.Listen)
	never, nr := dial(fw2.Listen)
	for _, x := range []struct {
		c net.Conn
		r *bufio.Reader
	}{{busy, br}, {idle, ir}, {never, nr}} {
		if err := ping(x.c, x.r); err != nil {
			t.Fatal(err)
		}
	}
	// The busy one talks every 100 ms for a second.
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		if err := ping(busy, br); err != nil {
			t.Fatalf("a busy connection closed: %v", err)
		}
	}
	if err := ping(idle, ir); err == nil {
		t.Fatal("a connection idle for a second outlived a 400 ms idle timeout")
	}
	if err := ping(never, nr); err != nil {
		t.Fatalf("a connection without idle timeout closed: %v", err)
	}
	owner.svc.Close()
	s2, err := New(Config{Host: owner.h, Path: filepath.Join(owner.dir, "services.json")})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if l := s2.List(); len(l) != 2 || l[0].IdleTimeout != 400*time.Millisecond || l[1].IdleTimeout != 0 {
		t.Fatalf("saved idle timeouts: %+v", l)
	}
}
