package p2p

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peerpath/peerpath/internal/testutil"
)

const echoProto = "/peerpath/test-echo/1.0.0"

func echoHandler(s network.Stream) {
	defer s.Close()
	for {
		msg, err := ReadMsg(s, 1<<10)
		if err != nil {
			if err != io.EOF {
				_ = s.Reset()
			}
			return
		}
		if err := WriteMsg(s, msg); err != nil {
			_ = s.Reset()
			return
		}
	}
}

// TestTenNodesManyStreams starts ten nodes that know only node 0, checks
// that they find each other through the DHT, then holds 100 concurrent
// streams of one protocol open from every node to each of three peers
// (3,000 streams at once; 1,000 under the race detector) and echoes a message on each. It fails if the
// resource manager's limits are too tight for the services' fan-out.
func TestTenNodesManyStreams(t *testing.T) {
	const (
		nodes = 10
		// More than the default limit of go-libp2p's resource manager for
		// inbound streams of one protocol from one peer (64 plus a little
		// per GiB of memory).
		streamsPerPeer = 100
	)
	peersPerNode := 3
	if testutil.Race {
		peersPerNode = 1
	}
	start := time.Now()
	ns := make([]*Node, nodes)
	ns[0] = testNode(t, nil)
	for i := 1; i < nodes; i++ {
		ns[i] = testNode(t, func(c *Config) { c.Bootstrap = ns[0].Addrs() })
	}
	for _, n := range ns {
		n.Host().SetStreamHandler(echoProto, echoHandler)
		serve(t, n)
	}
	// Every node should meet at least half the network beyond node 0.
	testutil.Eventually(t, 20*time.Second, "nodes discover each other", func() bool {
		for _, n := range ns {
			if len(n.Host().Network().Peers()) < nodes/2+1 {
				return false
			}
		}
		return true
	})

	t.Logf("%d nodes met through the DHT in %v", nodes, time.Since(start))
	// Connect each node to its stream targets explicitly: the DHT need not
	// have connected every pair, and discovery is not what is tested here.
	for i, n := range ns {
		for j := 1; j <= peersPerNode; j++ {
			mustConnect(t, n, ns[(i+j)%nodes])
		}
	}
	start = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []error
		opened   = make(chan struct{})
		openWG   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	for i, n := range ns {
		targets := make([]peer.ID, 0, peersPerNode)
		for j := 1; j <= peersPerNode; j++ {
			targets = append(targets, ns[(i+j)%nodes].ID())
		}
		for _, p := range targets {
			for k := 0; k < streamsPerPeer; k++ {
				openWG.Add(1)
				wg.Go(func() {
					s, err := n.Host().NewStream(ctx, p, echoProto)
					if err != nil {
						openWG.Done()
						fail(fmt.Errorf("open stream %d to %s: %w", k, p, err))
						return
					}
					defer s.Close()
					// Write at once: with lazy negotiation the protocol is
					// agreed on with the first message, and an idle stream
					// would hit the negotiation timeout.
					want := fmt.Sprintf("%d-%s-%d", i, p, k)
					err = WriteMsg(s, []byte(want))
					openWG.Done()
					if err != nil {
						fail(err)
						_ = s.Reset()
						return
					}
					<-opened // hold every stream open at once
					got, err := ReadMsg(s, 1<<10)
					if err != nil || string(got) != want {
						fail(fmt.Errorf("echo %q: got %q, %v", want, got, err))
						_ = s.Reset()
					}
				})
			}
		}
	}
	openWG.Wait()
	open := 0
	for _, n := range ns {
		for _, c := range n.Host().Network().Conns() {
			for _, s := range c.GetStreams() {
				if s.Protocol() == echoProto && s.Stat().Direction == network.DirOutbound {
					open++
				}
			}
		}
	}
	close(opened)
	wg.Wait()
	t.Logf("%d streams opened, held and echoed in %v", open, time.Since(start))
	for i, err := range failures {
		if i >= 5 {
			t.Errorf("... and %d more", len(failures)-5)
			break
		}
		t.Error(err)
	}
	if want := nodes * peersPerNode * streamsPerPeer; open != want {
		t.Errorf("%d echo streams open at once, want %d", open, want)
	}

	// The metrics collector sees the traffic.
	reg := prometheus.NewPedanticRegistry()
	if err := ns[0].RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := ns[0].RegisterMetrics(reg); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = v
		}
	}
	if v, want := got["peerpath_p2p_connected_peers"], len(ns[0].Host().Network().Peers()); int(v) != want {
		t.Errorf("connected_peers = %v, want %d", v, want)
	}
	if got["peerpath_p2p_bytes_total,direction=in"] <= 0 || got["peerpath_p2p_bytes_total,direction=out"] <= 0 {
		t.Errorf("bytes_total not counted: %v", got)
	}
	if got["peerpath_p2p_routing_table_peers"] < 1 {
		t.Errorf("routing_table_peers = %v", got["peerpath_p2p_routing_table_peers"])
	}
	if got["peerpath_p2p_reachability,reachability=unknown"] != 1 {
		t.Errorf("reachability metric: %v", got)
	}
}
