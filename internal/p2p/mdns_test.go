package p2p

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
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
	eventually(t, 20*time.Second, "A and B connected through mDNS", func() bool {
		return a.Host().Network().Connectedness(b.ID()) == network.Connected
	})
	t.Logf("found each other after %v", time.Since(start))
	eventually(t, 5*time.Second, "B remembered as a LAN peer found by mDNS", func() bool {
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

// TestMDNSDialDedup checks that repeated mDNS sightings of an unreachable
// peer cause one dial, not one per sighting.
func TestMDNSDialDedup(t *testing.T) {
	n := testNode(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &mdnsNotifee{n: n, ctx: ctx}
	// A peer on a closed port: the dial fails fast.
	other := testNode(t, nil)
	ai, err := parsePeerAddr(other.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	ai.Addrs = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/1")}
	for range 5 {
		m.HandlePeerFound(*ai)
	}
	eventually(t, 5*time.Second, "the dial to fail", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.busy) == 0 && m.failed[ai.ID].n == 1
	})
	m.mu.Lock()
	first := m.failed[ai.ID]
	m.mu.Unlock()
	m.HandlePeerFound(*ai) // within mdnsRetryMin: no new dial
	time.Sleep(100 * time.Millisecond)
	m.mu.Lock()
	if m.busy[ai.ID] || m.failed[ai.ID] != first {
		t.Error("redialled an unreachable LAN peer within mdnsRetryMin")
	}
	// Once the wait is over, a new sighting dials again, and the next
	// wait doubles.
	m.failed[ai.ID] = mdnsFailed{at: first.at.Add(-mdnsRetryMin), n: 1}
	m.mu.Unlock()
	m.HandlePeerFound(*ai)
	eventually(t, 5*time.Second, "the second dial to fail", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.busy) == 0 && m.failed[ai.ID].n == 2
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
