package peerlimit

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ErrBusy is returned (wrapped, naming the limit reached) by
// [Slots.Acquire] when a slot would exceed one of its limits.
var ErrBusy = errors.New("peerlimit: busy")

// SlotLimits are the bounds of a [Slots]. A zero field means no limit of
// that kind.
type SlotLimits struct {
	// PerPeer bounds the slots one peer ID holds, over all its
	// connections.
	PerPeer int
	// PerConn bounds the slots held through one connection.
	PerConn int
	// PerIP bounds the slots held through connections from one remote
	// address: one IPv4 address, or one IPv6 /64 (what a single host is
	// usually given), so that identities made up for free do not multiply
	// what one machine may hold. Connections over loopback are exempt: they
	// come from this machine, and tests run many nodes there.
	PerIP int
	// Total bounds the slots held at once over all peers.
	Total int
}

// Slots counts something remote peers hold (open streams, requests in
// service) and bounds it per peer, per connection, per remote address and
// in all. Unlike [Limiter], which bounds a rate, Slots bounds what is held
// at the same moment: a peer that holds a slot and does nothing keeps
// others out, so callers hold a slot only while it is worth its cost and
// release it as soon as possible. Memory is proportional to the slots
// held, never to the peers seen. It is safe for concurrent use.
type Slots struct {
	lim SlotLimits

	mu    sync.Mutex
	peers map[peer.ID]int
	conns map[string]int
	ips   map[netip.Prefix]int
	total int
}

// NewSlots returns Slots with the limits l.
func NewSlots(l SlotLimits) *Slots {
	return &Slots{
		lim:   l,
		peers: make(map[peer.ID]int),
		conns: make(map[string]int),
		ips:   make(map[netip.Prefix]int),
	}
}

// Acquire takes one slot for a peer on connection c. It returns a release
// function (which must be called once, when the slot is no longer held;
// later calls do nothing), or an error wrapping [ErrBusy] that names the
// limit reached.
func (s *Slots) Acquire(c network.Conn) (release func(), err error) {
	return s.acquire(c.RemotePeer(), c.ID(), c.RemoteMultiaddr())
}

func (s *Slots) acquire(p peer.ID, conn string, addr ma.Multiaddr) (func(), error) {
	ip, limitIP := remotePrefix(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case over(s.lim.Total, s.total):
		return nil, fmt.Errorf("%w: %d held, the node's limit", ErrBusy, s.total)
	case over(s.lim.PerPeer, s.peers[p]):
		return nil, fmt.Errorf("%w: %d held by this peer, its limit", ErrBusy, s.peers[p])
	case over(s.lim.PerConn, s.conns[conn]):
		return nil, fmt.Errorf("%w: %d held on this connection, its limit", ErrBusy, s.conns[conn])
	case limitIP && over(s.lim.PerIP, s.ips[ip]):
		return nil, fmt.Errorf("%w: %d held from this address, its limit", ErrBusy, s.ips[ip])
	}
	s.total++
	s.peers[p]++
	s.conns[conn]++
	if limitIP {
		s.ips[ip]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.total--
			dec(s.peers, p)
			dec(s.conns, conn)
			if limitIP {
				dec(s.ips, ip)
			}
		})
	}, nil
}

// Held returns the number of slots held over all peers.
func (s *Slots) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// HeldBy returns the number of slots p holds.
func (s *Slots) HeldBy(p peer.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[p]
}

// tracked returns how many peers, connections and addresses have entries,
// for tests of the memory bound.
func (s *Slots) tracked() (peers, conns, ips int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.peers), len(s.conns), len(s.ips)
}

func over(limit, held int) bool { return limit > 0 && held >= limit }

func dec[K comparable](m map[K]int, k K) {
	if m[k]--; m[k] <= 0 {
		delete(m, k)
	}
}

// remotePrefix returns the address prefix that PerIP counts a connection
// from addr under: the IPv4 address, or the IPv6 /64. It reports false for
// loopback addresses and for addresses with no IP (which PerIP does not
// limit). A relayed connection counts under the relay's address, the only
// one known.
func remotePrefix(addr ma.Multiaddr) (netip.Prefix, bool) {
	if len(addr) == 0 {
		return netip.Prefix{}, false
	}
	var ip netip.Addr
	switch c := addr[0]; c.Code() {
	case ma.P_IP4, ma.P_IP6:
		a, ok := netip.AddrFromSlice(c.RawValue())
		if !ok {
			return netip.Prefix{}, false
		}
		ip = a.Unmap()
	default:
		return netip.Prefix{}, false
	}
	if ip.IsLoopback() {
		return netip.Prefix{}, false
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	pfx, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, false
	}
	return pfx, true
}
