package p2p

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/test"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peerpath/peerpath/internal/testutil"
)

// mdnsChildEnv marks the re-executed test binary that runs inside the
// network namespace.
const mdnsChildEnv = "PEERPATH_P2P_MDNS_CHILD"

// TestMDNSDiscovery checks that two nodes with MDNS on and no bootstrap
// peers find and connect to each other.
//
// Multicast must not leave this machine and the host's loopback interface
// has no MULTICAST flag, so the test creates a fresh network namespace,
// brings its loopback up with multicast on, and re-runs itself inside it
// (`ip netns exec`). The namespace is deleted afterwards.
func TestMDNSDiscovery(t *testing.T) {
	if os.Getenv(mdnsChildEnv) != "" {
		mdnsPair(t)
		return
	}
	name := fmt.Sprintf("peerpath-p2p-mdns-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	ip("-n", name, "link", "set", "lo", "up")
	ip("-n", name, "link", "set", "lo", "multicast", "on")

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", name, os.Args[0],
		"-test.run=^TestMDNSDiscovery$", "-test.v", "-test.count=1", "-test.timeout=35s")
	cmd.Env = append(os.Environ(), mdnsChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mDNS test in namespace %s failed: %v\n%s", name, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestMDNSDiscovery") {
		t.Fatalf("child run did not pass TestMDNSDiscovery:\n%s", out)
	}
	t.Logf("child output:\n%s", out)
}

// mdnsPair runs inside the namespace.
func mdnsPair(t *testing.T) {
	a := testNode(t, func(c *Config) { c.MDNS = true })
	b := testNode(t, func(c *Config) { c.MDNS = true })
	start := time.Now()
	serve(t, a)
	serve(t, b)
	testutil.Eventually(t, 20*time.Second, "A and B connected through mDNS", func() bool {
		return a.Host().Network().Connectedness(b.ID()) == network.Connected
	})
	t.Logf("found each other after %v", time.Since(start))
	testutil.Eventually(t, 5*time.Second, "B remembered as a LAN peer found by mDNS", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.lan[b.ID()] || b.lan[a.ID()]
	})
	for _, p := range a.Peers() {
		if p.ID == b.ID().String() && !p.LAN {
			t.Errorf("peer %s not reported as LAN", p.ID)
		}
	}
}

func TestMDNSStaysLocal(t *testing.T) {
	lo := net.Interface{Name: "lo", Flags: net.FlagUp | net.FlagLoopback}
	loMC := net.Interface{Name: "lo", Flags: net.FlagUp | net.FlagLoopback | net.FlagMulticast}
	eth := net.Interface{Name: "eth0", Flags: net.FlagUp | net.FlagMulticast | net.FlagBroadcast}
	ethDown := net.Interface{Name: "eth1", Flags: net.FlagMulticast}
	loopback := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}
	any := []ma.Multiaddr{ma.StringCast("/ip4/0.0.0.0/tcp/4101")}
	for _, tc := range []struct {
		name   string
		addrs  []ma.Multiaddr
		ifaces []net.Interface
		want   bool
	}{
		{"loopback node, host with eth0", loopback, []net.Interface{lo, eth}, false},
		{"loopback node, namespace with multicast lo", loopback, []net.Interface{loMC, ethDown}, true},
		{"loopback node, no multicast at all", loopback, []net.Interface{lo}, false},
		{"loopback node, lo and eth0 multicast", loopback, []net.Interface{loMC, eth}, false},
		{"LAN node", any, []net.Interface{lo, eth}, true},
	} {
		if got := mdnsStaysLocal(tc.addrs, tc.ifaces); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// shortLANDials shortens the LAN dial timings for a test.
func shortLANDials(t *testing.T) {
	yield, redial, attempts := mdnsYield, mdnsRedialMin, mdnsAttempts
	mdnsYield, mdnsRedialMin, mdnsAttempts = 20*time.Millisecond, 10*time.Millisecond, 3
	t.Cleanup(func() { mdnsYield, mdnsRedialMin, mdnsAttempts = yield, redial, attempts })
}

// TestMDNSDialDedup checks that repeated mDNS sightings of an unreachable
// peer cause one round of mdnsAttempts dials, not one per sighting, and
// that the peer is then left alone for a while.
func TestMDNSDialDedup(t *testing.T) {
	shortLANDials(t)
	n := testNode(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &mdnsNotifee{n: n, ctx: ctx}
	// A "peer" that accepts TCP connections and closes them at once: every
	// dial fails, and each one is counted.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepts atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			c.Close()
		}
	}()
	other := testNode(t, nil)
	ai, err := parsePeerAddr(other.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	ai.Addrs = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/" + fmt.Sprint(l.Addr().(*net.TCPAddr).Port))}
	for range 5 {
		m.HandlePeerFound(*ai)
	}
	testutil.Eventually(t, 10*time.Second, "the round of dials to fail", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.dialing) == 0 && m.failed[ai.ID].n == 1
	})
	if got := accepts.Load(); got != int32(mdnsAttempts) {
		t.Errorf("%d dials for 5 sightings, want one round of %d", got, mdnsAttempts)
	}
	m.mu.Lock()
	first := m.failed[ai.ID]
	m.mu.Unlock()
	m.HandlePeerFound(*ai) // within mdnsRetryMin: no new dial
	m.mu.Lock()
	if m.dialing[ai.ID] != nil || m.failed[ai.ID] != first {
		t.Error("redialled an unreachable LAN peer within mdnsRetryMin")
	}
	// Once the wait is over, a new sighting dials again, and the next
	// wait doubles.
	m.failed[ai.ID] = mdnsFailed{at: first.at.Add(-mdnsRetryMin), n: 1}
	m.mu.Unlock()
	m.HandlePeerFound(*ai)
	testutil.Eventually(t, 10*time.Second, "the second round to fail", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.dialing) == 0 && m.failed[ai.ID].n == 2
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.failed[ai.ID].wait(); w != 2*mdnsRetryMin {
		t.Errorf("wait after two failures %v, want %v", w, 2*mdnsRetryMin)
	}
	if w := (mdnsFailed{n: 30}).wait(); w != mdnsRetry {
		t.Errorf("wait after many failures %v, want %v", w, mdnsRetry)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.lan[ai.ID] {
		t.Error("peer seen by mDNS not marked as LAN")
	}
}

// A LAN peer that fails its first dial is connected by a prompt redial,
// without mDNS reporting it again: the peer's port first answers with a
// bare TCP accept-and-close, and the peer itself starts there only after
// that dial failed.
func TestMDNSRedialsPromptly(t *testing.T) {
	shortLANDials(t)
	mdnsAttempts = 20
	a := testNode(t, nil)
	keyB := newKey(t)
	idB, err := peer.IDFromPrivateKey(keyB)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	refused := make(chan struct{})
	go func() {
		defer close(refused)
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
		l.Close()
	}()
	t.Cleanup(func() { l.Close() })
	addr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &mdnsNotifee{n: a, ctx: ctx}
	m.HandlePeerFound(peer.AddrInfo{ID: idB, Addrs: []ma.Multiaddr{addr}})
	select {
	case <-refused:
	case <-time.After(10 * time.Second):
		t.Fatal("no first dial")
	}
	b := testNode(t, func(c *Config) {
		c.Identity = keyB
		c.ListenAddrs = []string{addr.String()}
	})
	testutil.Eventually(t, 20*time.Second, "a connected after a redial", func() bool {
		return a.Host().Network().Connectedness(b.ID()) == network.Connected
	})
}

// TestMDNSSimultaneousDiscovery: two LAN peers that find each other in the
// same instant (as two nodes started together do) connect, each told of the
// other once. When both dialled at once from their listen ports, the TCP
// simultaneous open left both sides as TLS clients, the handshake failed,
// and mDNS would not report the peer again for up to a minute.
func TestMDNSSimultaneousDiscovery(t *testing.T) {
	for i := range 10 {
		a, b := testNode(t, nil), testNode(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		na := &mdnsNotifee{n: a, ctx: ctx}
		nb := &mdnsNotifee{n: b, ctx: ctx}
		ia, err := parsePeerAddr(a.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		ib, err := parsePeerAddr(b.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		done := make(chan struct{}, 2)
		go func() { <-start; na.HandlePeerFound(*ib); done <- struct{}{} }()
		go func() { <-start; nb.HandlePeerFound(*ia); done <- struct{}{} }()
		close(start)
		<-done
		<-done
		testutil.Eventually(t, 20*time.Second, fmt.Sprintf("round %d: both connected", i), func() bool {
			return a.Host().Network().Connectedness(b.ID()) == network.Connected &&
				b.Host().Network().Connectedness(a.ID()) == network.Connected
		})
		cancel()
		a.Close()
		b.Close()
	}
}

// Anyone on the LAN can announce any number of made-up peer IDs; what a
// node remembers of them stays bounded.
func TestMDNSAnnouncementsBounded(t *testing.T) {
	shortLANDials(t)
	n := testNode(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	m := &mdnsNotifee{n: n, ctx: ctx}
	for range 3 * mdnsMaxKnown {
		id, err := test.RandPeerID()
		if err != nil {
			t.Fatal(err)
		}
		// No addresses: a dial loop, if one starts, fails at once.
		m.HandlePeerFound(peer.AddrInfo{ID: id})
	}
	cancel()
	testutil.Eventually(t, 20*time.Second, "the dial loops to end", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.dialing) == 0
	})
	m.mu.Lock()
	failed := len(m.failed)
	m.mu.Unlock()
	n.mu.Lock()
	lan := len(n.lan)
	n.mu.Unlock()
	if lan != mdnsMaxKnown || failed > mdnsMaxKnown {
		t.Fatalf("after %d announcements: %d LAN peers and %d failed remembered, want %d and at most %d", 3*mdnsMaxKnown, lan, failed, mdnsMaxKnown, mdnsMaxKnown)
	}
}
