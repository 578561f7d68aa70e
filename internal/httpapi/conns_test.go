package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// closedByPeer reports whether c was closed by the other end within d.
func closedByPeer(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	return err == io.EOF
}

func TestConnLimiterEvictsOldestIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimiter(ln, 3)
	defer l.Close()
	var client, server []net.Conn
	defer func() {
		for _, c := range append(client, server...) {
			c.Close()
		}
	}()
	dialAccept := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		client = append(client, c)
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		server = append(server, s)
		return s
	}
	for range 3 {
		dialAccept()
	}
	// The first serves a request: it is never evicted.
	l.setState(server[0], http.StateActive)
	dialAccept() // evicts the oldest idle: the second
	if n := l.open(); n != 3 {
		t.Fatalf("%d open, want 3", n)
	}
	if !closedByPeer(client[1], 5*time.Second) {
		t.Fatal("the oldest idle connection was not closed")
	}
	if closedByPeer(client[0], 50*time.Millisecond) {
		t.Fatal("the busy connection was closed")
	}
	// All busy: a new connection is refused, and the next one accepted
	// once a slot frees.
	l.setState(server[2], http.StateActive)
	l.setState(server[3], http.StateActive)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client = append(client, c)
	accepted := make(chan net.Conn, 1)
	go func() {
		s, _ := l.Accept()
		accepted <- s
	}()
	if !closedByPeer(c, 5*time.Second) {
		t.Fatal("a connection beyond the cap of busy ones was not closed")
	}
	l.setState(server[0], http.StateClosed)
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client = append(client, dialed)
	server = append(server, <-accepted)
	if n := l.open(); n != 3 {
		t.Fatalf("%d open, want 3", n)
	}
}

// A flood of idle connections and of requests that never finish their
// header does not keep an honest client out, and a request with a wrong
// token has its connection closed.
func TestServeBoundsConnections(t *testing.T) {
	s := New(Config{Token: "secret", MaxConns: 8})
	s.HandleFunc("GET /api/v1/ping", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return map[string]string{"pong": "yes"}, nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	addr := ln.Addr().String()

	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := range 100 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			fmt.Fprintf(c, "GET /api/v1/ping HTTP/1.1\r\nHost: %s\r\n", addr)
		}
		idle = append(idle, c)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/ping", nil)
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("honest client during the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("honest client: %s", resp.Status)
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /api/v1/ping HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer guess\r\n\r\n", addr)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	r, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r.Body)
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %s", r.Status)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection of a refused token still open: %v", err)
	}
}
