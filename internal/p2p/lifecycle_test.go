package p2p

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peerpath/peerpath/internal/testutil"
)

func TestServeAndCloseLifecycle(t *testing.T) {
	n, err := New(context.Background(), Config{Identity: newKey(t), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	// A second concurrent Serve is refused.
	testutil.Eventually(t, 2*time.Second, "Serve running", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.serving
	})
	if err := n.Serve(ctx); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("second Serve: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}

	// Close ends a running Serve too.
	go func() { done <- n.Serve(context.Background()) }()
	testutil.Eventually(t, 2*time.Second, "Serve running again", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.serving
	})
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Close = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := n.Serve(context.Background()); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve after Close = %v, want ErrClosed", err)
	}
	if err := n.Connect(context.Background(), "/ip4/127.0.0.1/tcp/1/p2p/"+mustID(t).String()); !errors.Is(err, ErrClosed) {
		t.Errorf("Connect after Close = %v, want ErrClosed", err)
	}
}

// TestBootstrapRetry starts B with a bootstrap peer that is not up yet and
// checks that B keeps retrying and connects once it is.
func TestBootstrapRetry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	aKey := newKey(t)
	aAddr := "/ip4/127.0.0.1/tcp/" + itoa(port) + "/p2p/" + mustIDOf(t, aKey)

	b := testNode(t, func(c *Config) { c.Bootstrap = []string{aAddr} })
	serve(t, b)
	time.Sleep(1500 * time.Millisecond) // B's first dials fail
	if b.Host().Network().Connectedness(idOf(t, aKey)) == network.Connected {
		t.Fatal("connected to a peer that is not up")
	}
	a := testNode(t, func(c *Config) {
		c.Identity = aKey
		c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/" + itoa(port)}
	})
	testutil.Eventually(t, 10*time.Second, "B reaches its bootstrap peer once it is up", func() bool {
		return b.Host().Network().Connectedness(a.ID()) == network.Connected
	})
}

func TestAddrsExpandUnspecified(t *testing.T) {
	n := testNode(t, func(c *Config) {
		c.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/0"}
		c.NoPortMap = true // no UPnP probes leave this machine
	})
	addrs := n.Addrs()
	if len(addrs) == 0 {
		t.Fatal("no addresses")
	}
	sawLoopback := false
	for _, a := range addrs {
		if strings.Contains(a, "/0.0.0.0/") {
			t.Errorf("unspecified address %s", a)
		}
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			sawLoopback = true
		}
	}
	if !sawLoopback {
		t.Errorf("no loopback address among %v", addrs)
	}
}

func TestPubSubBetweenNodes(t *testing.T) {
	a := testNode(t, nil)
	b := testNode(t, func(c *Config) { c.Bootstrap = a.Addrs() })
	serve(t, a)
	serve(t, b)
	ta, err := a.PubSub().Join("peerpath/test")
	if err != nil {
		t.Fatal(err)
	}
	defer ta.Close()
	tb, err := b.PubSub().Join("peerpath/test")
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	sub, err := tb.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	testutil.Eventually(t, 10*time.Second, "A sees B in the topic mesh", func() bool {
		return len(ta.ListPeers()) > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ta.Publish(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != "hello" || msg.ReceivedFrom != a.ID() {
		t.Errorf("got %q from %s", msg.Data, msg.ReceivedFrom)
	}
}

func TestLibP2PMetricsOptIn(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := testNode(t, func(c *Config) { c.LibP2PMetrics = reg })
	b := testNode(t, nil)
	mustConnect(t, b, a)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	libp2pFamilies := 0
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "libp2p_") {
			libp2pFamilies++
		}
	}
	if libp2pFamilies == 0 {
		t.Errorf("no libp2p_ metrics in the opted-in registry (%d families)", len(mfs))
	}
}

func TestReachabilityFromEventBus(t *testing.T) {
	n := testNode(t, nil)
	if r := n.Status().Reachability; r != "unknown" {
		t.Fatalf("initial reachability %q, want unknown", r)
	}
	em, err := n.Host().EventBus().Emitter(new(event.EvtLocalReachabilityChanged))
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	for _, tc := range []struct {
		r    network.Reachability
		want string
	}{{network.ReachabilityPublic, "public"}, {network.ReachabilityPrivate, "private"}} {
		if err := em.Emit(event.EvtLocalReachabilityChanged{Reachability: tc.r}); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 2*time.Second, "reachability "+tc.want, func() bool {
			return n.Status().Reachability == tc.want
		})
	}
}
