package peerlimit

import (
	"errors"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func addr(s string) ma.Multiaddr { return ma.StringCast(s) }

// take acquires n slots and fails unless all succeed.
func take(t *testing.T, s *Slots, n int, p peer.ID, conn string, a ma.Multiaddr) []func() {
	t.Helper()
	var rel []func()
	for i := range n {
		r, err := s.acquire(p, conn, a)
		if err != nil {
			t.Fatalf("slot %d of %d for %s on %s: %v", i+1, n, p, conn, err)
		}
		rel = append(rel, r)
	}
	return rel
}

func mustBusy(t *testing.T, s *Slots, p peer.ID, conn string, a ma.Multiaddr, what string) {
	t.Helper()
	r, err := s.acquire(p, conn, a)
	if err == nil {
		r()
		t.Fatalf("slot beyond the %s limit granted", what)
	}
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("%s limit: %v, want ErrBusy", what, err)
	}
}

func TestSlotsPerPeerAcrossConnections(t *testing.T) {
	s := NewSlots(SlotLimits{PerPeer: 4, PerConn: 3})
	a := addr("/ip4/10.0.0.1/tcp/1")
	take(t, s, 3, "p", "c1", a)
	mustBusy(t, s, "p", "c1", a, "per-connection")
	take(t, s, 1, "p", "c2", a)
	mustBusy(t, s, "p", "c3", a, "per-peer")
	take(t, s, 3, "q", "c4", a) // another peer is not limited by p
}

func TestSlotsPerIP(t *testing.T) {
	s := NewSlots(SlotLimits{PerIP: 5})
	a := addr("/ip4/10.0.0.1/tcp/1")
	for i := range 5 {
		take(t, s, 1, peer.ID(fmt.Sprint("sybil", i)), fmt.Sprint("c", i), a)
	}
	mustBusy(t, s, "sybil-new", "c-new", addr("/ip4/10.0.0.1/udp/9/quic-v1"), "per-address")
	take(t, s, 1, "honest", "ch", addr("/ip4/10.0.0.2/tcp/1"))

	// One IPv6 /64 is one address.
	s = NewSlots(SlotLimits{PerIP: 2})
	take(t, s, 1, "a", "c1", addr("/ip6/2001:db8::1/tcp/1"))
	take(t, s, 1, "b", "c2", addr("/ip6/2001:db8::ffff:2/tcp/1"))
	mustBusy(t, s, "c", "c3", addr("/ip6/2001:db8::3/udp/1/quic-v1"), "per-/64")
	take(t, s, 1, "d", "c4", addr("/ip6/2001:db8:0:1::3/tcp/1"))

	// Loopback is exempt.
	s = NewSlots(SlotLimits{PerIP: 1})
	take(t, s, 3, "a", "c1", addr("/ip4/127.0.0.1/tcp/1"))
	take(t, s, 3, "b", "c2", addr("/ip6/::1/tcp/1"))
}

func TestSlotsTotalAndRelease(t *testing.T) {
	s := NewSlots(SlotLimits{Total: 3, PerPeer: 2})
	a := addr("/ip4/10.0.0.1/tcp/1")
	rel := take(t, s, 2, "p", "c1", a)
	take(t, s, 1, "q", "c2", a)
	mustBusy(t, s, "r", "c3", a, "total")
	rel[0]()
	rel[0]() // a second release does nothing
	if got := s.Held(); got != 2 {
		t.Fatalf("held %d after one release, want 2", got)
	}
	take(t, s, 1, "r", "c3", a)
	mustBusy(t, s, "r", "c3", a, "total")
}

// Entries exist only while slots are held: a stream of peers, connections
// and addresses that come and go leaves nothing behind.
func TestSlotsForgetReleased(t *testing.T) {
	s := NewSlots(SlotLimits{PerPeer: 1, PerConn: 1, PerIP: 1, Total: 10})
	for i := range 10000 {
		a := addr(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/1", i>>16&255, i>>8&255, i&255))
		r, err := s.acquire(peer.ID(fmt.Sprint(i)), fmt.Sprint(i), a)
		if err != nil {
			t.Fatal(err)
		}
		r()
	}
	if p, c, ip := s.tracked(); p+c+ip != 0 || s.Held() != 0 {
		t.Fatalf("after every release: %d peers, %d connections, %d addresses, %d held", p, c, ip, s.Held())
	}
}

func TestRemotePrefix(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want string // "" when not limited
	}{
		{"/ip4/192.0.2.7/tcp/4101", "192.0.2.7/32"},
		{"/ip4/192.0.2.7/udp/4101/quic-v1", "192.0.2.7/32"},
		{"/ip6/2001:db8:1:2:3:4:5:6/tcp/1", "2001:db8:1:2::/64"},
		{"/ip6/::ffff:192.0.2.7/tcp/1", "192.0.2.7/32"},
		{"/ip4/127.0.0.2/tcp/1", ""},
		{"/ip6/::1/tcp/1", ""},
		{"/ip4/192.0.2.9/tcp/1/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK/p2p-circuit", "192.0.2.9/32"},
		{"/dns4/example.com/tcp/1", ""},
	} {
		pfx, ok := remotePrefix(addr(tc.addr))
		got := ""
		if ok {
			got = pfx.String()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.addr, got, tc.want)
		}
	}
	if _, ok := remotePrefix(nil); ok {
		t.Error("nil address limited")
	}
}

// FuzzRemotePrefix: any address a transport may report is either not
// limited or limited under a valid prefix that holds its IP, and never
// panics.
func FuzzRemotePrefix(f *testing.F) {
	for _, s := range []string{"/ip4/192.0.2.7/tcp/1", "/ip6/2001:db8::1/udp/1/quic-v1", "/ip4/127.0.0.1/tcp/1", "/dns4/x.example/tcp/1"} {
		f.Add(addr(s).Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ma.NewMultiaddrBytes(b)
		if err != nil {
			return
		}
		pfx, ok := remotePrefix(a)
		if !ok {
			return
		}
		if !pfx.IsValid() || (pfx.Bits() != 32 && pfx.Bits() != 64) {
			t.Fatalf("%s: prefix %v", a, pfx)
		}
		s := NewSlots(SlotLimits{PerIP: 1})
		r, err := s.acquire("p", "c", a)
		if err != nil {
			t.Fatal(err)
		}
		r()
	})
}
