//go:build linux

package hostile

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/test/harness"
)

const tunnelProtocol = "/peerpath/tunnel/1.0.0"

// tunnelOpen opens a tunnel stream from h to p asking for service and
// returns the stream and the owner's answer.
func tunnelOpen(ctx context.Context, h host.Host, p peer.ID, service string) (network.Stream, map[string]any, error) {
	st, err := h.NewStream(ctx, p, tunnelProtocol)
	if err != nil {
		return nil, nil, err
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := json.Marshal(map[string]string{"op": "open", "service": service})
	if err := p2p.WriteMsg(st, b); err != nil {
		st.Reset()
		return nil, nil, err
	}
	b, err = p2p.ReadMsg(st, 64<<10)
	if err != nil {
		st.Reset()
		return nil, nil, err
	}
	var resp map[string]any
	if err := json.Unmarshal(b, &resp); err != nil {
		st.Reset()
		return nil, nil, err
	}
	return st, resp, nil
}

// A stranger speaking the tunnel protocol: refused before the service is
// dialled (the owner's log names it), an idle stream closed within
// p2p.FirstRequestTimeout, an oversized request reset unread; an allowed
// peer past its connection limit is answered busy, not served.
func TestTunnelHostilePeer(t *testing.T) {
	t.Parallel()
	var accepted atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var held sync.Map
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			held.Store(c, true) // held open until the test ends
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		held.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	})

	a := harness.Start(t)
	aID := mustID(t, a)
	friendKey := mustKey(t)
	friend, err := peer.IDFromPrivateKey(friendKey)
	if err != nil {
		t.Fatal(err)
	}
	var s api.Service
	harness.CLIJSON(t, &s, "service", "expose", "web", ln.Addr().String(), "--allow", friend.String(), "--home", a.Home)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stranger, _ := newPeer(t, a)
	st, resp, err := tunnelOpen(ctx, stranger, aID, "web")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if e, _ := resp["error"].(string); !strings.Contains(e, "not offered to you") {
		t.Fatalf("a stranger's open: %v", resp)
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the owner dialled its service %d times for a stranger", n)
	}
	harness.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(a.Out.String(), "tunnel: refused a peer not allowed") || !strings.Contains(a.Out.String(), stranger.ID().String()) {
			return errors.New("the owner's log does not name the stranger")
		}
		return nil
	})

	// An idle stream is closed within FirstRequestTimeout.
	idle, err := stranger.NewStream(ctx, aID, tunnelProtocol)
	if err != nil {
		t.Fatal(err)
	}
	idle.Write(nil)
	limit := p2p.FirstRequestTimeout + 2*time.Second
	idle.SetReadDeadline(time.Now().Add(limit))
	if _, err := idle.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("an idle tunnel stream was still open after %v", limit)
	}

	// A request longer than the limit is reset without an answer.
	big, err := stranger.NewStream(ctx, aID, tunnelProtocol)
	if err != nil {
		t.Fatal(err)
	}
	big.Write(binary.AppendUvarint(nil, 1<<30))
	big.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := big.Read(make([]byte, 64)); err == nil || n > 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("an oversized request: read %d, %v; want a reset", n, err)
	}

	// The allowed peer holds at most 256 connections; the next is busy.
	fh, err := libp2p.New(libp2p.Identity(friendKey), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.ResourceManager(&network.NullResourceManager{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	ai, _ := peer.AddrInfoFromString(a.Addr())
	if err := fh.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	var open []network.Stream
	defer func() {
		for _, st := range open {
			st.Reset()
		}
	}()
	const perPeer = 256
	for i := range perPeer {
		st, resp, err := tunnelOpen(ctx, fh, aID, "web")
		if err != nil || resp["error"] != nil {
			t.Fatalf("connection %d of the allowed peer: %v, %v", i, resp, err)
		}
		open = append(open, st)
	}
	st, resp, err = tunnelOpen(ctx, fh, aID, "web")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if busy, _ := resp["busy"].(bool); !busy {
		t.Fatalf("connection %d of one peer: %v; want busy", perPeer+1, resp)
	}
	harness.Eventually(t, 5*time.Second, func() error {
		if n := accepted.Load(); n != perPeer {
			return fmt.Errorf("service dialled %d times, want %d", n, perPeer)
		}
		return nil
	})
}

// The tunnel's API routes sit behind the same gate as every other: a web
// page (foreign Origin) or a local user without the token can neither
// expose a service nor open a forward. No API route carries a service's
// bytes.
func TestTunnelAPIGate(t *testing.T) {
	t.Parallel()
	a := harness.Start(t)
	base := a.Client.Base()
	body := `{"peer":"` + a.ID().ID + `","service":"web"}`
	tok, err := os.ReadFile(a.Home + "/api-token")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path, origin string
		token                bool
		want                 int
	}{
		{"POST", "/api/v1/forwards", "", false, http.StatusUnauthorized},
		{"POST", "/api/v1/forwards", "http://evil.example", true, http.StatusForbidden},
		{"POST", "/api/v1/services", "http://evil.example", true, http.StatusForbidden},
		{"GET", "/api/v1/services", "", false, http.StatusUnauthorized},
		{"GET", "/api/v1/forwards", "http://evil.example", true, http.StatusForbidden},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(body))
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		if c.token {
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s origin %q token %v: %d, want %d", c.method, c.path, c.origin, c.token, resp.StatusCode, c.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs, err := a.Client.Forwards(ctx)
	if err != nil || len(fs) != 0 {
		t.Fatalf("forwards after refused requests: %v, %v", fs, err)
	}
}
