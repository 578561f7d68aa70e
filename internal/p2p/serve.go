package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
)

// Timings of the background work. Variables so tests could shorten them;
// production code never changes them.
var (
	// bootstrapCheck is how often a connected bootstrap peer is checked.
	bootstrapCheck = 5 * time.Second
	// bootstrapMaxBackoff caps the wait between failed bootstrap dials.
	bootstrapMaxBackoff = 2 * time.Minute
	// bootstrapMinPeers: below this many connected peers, lost bootstrap
	// peers are redialled; above it they are left alone to spare them.
	bootstrapMinPeers = 8
	// discoverMin and discoverMax bound the interval between DHT discovery
	// rounds; the interval doubles after each round that found nothing new.
	discoverMin = 2 * time.Second
	discoverMax = 5 * time.Minute
	// dialTimeout bounds one dial made by the background work.
	dialTimeout = 15 * time.Second
	// pingEvery is how often every connected peer's latency is measured.
	pingEvery = time.Minute
)

// Serve runs the node's background work until ctx is done or the node is
// closed, and then returns nil:
//   - it keeps connecting the bootstrap peers, retrying failed dials with
//     exponential backoff (1 s doubling up to 2 min);
//   - once any peer is connected it bootstraps the DHT and then runs
//     discovery rounds (a lookup of its own ID and of a random ID), first
//     every 2 s and backing off to every 5 min while nothing new turns up,
//     so a node that starts with one bootstrap peer meets the others;
//   - with [Config.MDNS] it advertises itself and connects to the peers it
//     finds on the LAN;
//   - it measures each peer's latency on connect and every minute.
//
// Serve may run at most once at a time. It returns [ErrClosed] if the node
// is already closed.
func (n *Node) Serve(ctx context.Context) error {
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		return ErrClosed
	case n.serving:
		n.mu.Unlock()
		return errors.New("p2p: Serve is already running")
	}
	n.serving = true
	n.wg.Add(1)
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.serving = false
		n.mu.Unlock()
		n.wg.Done()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(n.ctx, cancel)
	defer stop()

	if n.cfg.MDNS && !mdnsStaysLocal(n.listen, interfaces()) {
		n.log.Warn("mDNS off: this node listens on loopback only, and mDNS would announce it on other interfaces too")
	} else if n.cfg.MDNS {
		svc := mdns.NewMdnsService(n.h, MDNSServiceName, &mdnsNotifee{n: n, ctx: ctx})
		if err := svc.Start(); err != nil {
			n.log.Warn("mDNS discovery not started", "err", err)
		} else {
			defer svc.Close()
		}
	}

	var wg sync.WaitGroup
	for _, info := range n.bootstrap {
		wg.Go(func() { n.keepBootstrapPeer(ctx, info) })
	}
	wg.Go(func() { n.discoverLoop(ctx) })
	wg.Go(func() { n.pingLoop(ctx) })
	wg.Wait()
	return nil
}

// keepBootstrapPeer dials one bootstrap peer and redials it when it is lost
// while the node has few peers.
func (n *Node) keepBootstrapPeer(ctx context.Context, info peer.AddrInfo) {
	n.h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
	backoff := time.Second
	first := true
	for {
		wait := bootstrapCheck
		net := n.h.Network()
		if net.Connectedness(info.ID) != network.Connected &&
			(first || len(net.Peers()) < bootstrapMinPeers) {
			dctx, cancel := context.WithTimeout(ctx, dialTimeout)
			err := n.connect(dctx, info)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				n.log.Warn("bootstrap peer unreachable", "peer", info.ID, "retry_in", backoff, "err", err)
				wait = backoff
				backoff = min(backoff*2, bootstrapMaxBackoff)
			} else {
				n.log.Info("connected to bootstrap peer", "peer", info.ID)
				backoff = time.Second
				first = false
			}
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// discoverLoop bootstraps the DHT once a peer is connected and then runs
// discovery rounds with a backoff.
func (n *Node) discoverLoop(ctx context.Context) {
	// Wait for a first peer (bootstrap, mDNS or an explicit Connect).
	for len(n.h.Network().Peers()) == 0 {
		if !sleep(ctx, 200*time.Millisecond) {
			return
		}
	}
	if err := n.dht.Bootstrap(ctx); err != nil {
		n.log.Warn("DHT bootstrap", "err", err)
	}
	interval := discoverMin
	for {
		before := len(n.h.Network().Peers())
		n.discoverRound(ctx)
		if ctx.Err() != nil {
			return
		}
		after := len(n.h.Network().Peers())
		switch {
		case after == 0:
			// Isolated: keep trying quickly; bootstrap and mDNS may bring
			// a peer back at any moment.
			interval = discoverMin
		case after > before:
			interval = discoverMin
		default:
			interval = min(interval*2, discoverMax)
		}
		if !sleep(ctx, interval) {
			return
		}
	}
}

// discoverRound looks up the node's own ID (which finds its neighbours in
// the key space and makes the node known to them) and a random ID (a random
// walk that fills far buckets). The DHT connects to the peers it queries.
func (n *Node) discoverRound(ctx context.Context) {
	if len(n.h.Network().Peers()) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	keys := []string{string(n.h.ID())}
	if id, err := randomPeerID(); err == nil {
		keys = append(keys, string(id))
	}
	for _, k := range keys {
		if _, err := n.dht.GetClosestPeers(ctx, k); err != nil && ctx.Err() == nil {
			n.log.Debug("DHT discovery round", "err", err)
		}
	}
}

func randomPeerID() (peer.ID, error) {
	// A random multihash-like key is enough for a lookup target.
	b := make([]byte, 34)
	b[0], b[1] = 0x12, 0x20 // sha2-256, 32 bytes
	if _, err := rand.Read(b[2:]); err != nil {
		return "", err
	}
	return peer.ID(b), nil
}

// pingLoop measures latency to each peer when it connects and every
// pingEvery; results land in the peerstore (see [Node.Peers]).
func (n *Node) pingLoop(ctx context.Context) {
	sub, err := n.h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		n.log.Warn("latency measurement off", "err", err)
		return
	}
	defer sub.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	pinging := make(map[peer.ID]bool)
	var mu sync.Mutex
	start := func(p peer.ID) {
		mu.Lock()
		defer mu.Unlock()
		if pinging[p] {
			return
		}
		pinging[p] = true
		wg.Go(func() {
			defer func() { mu.Lock(); delete(pinging, p); mu.Unlock() }()
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			res := <-ping.Ping(pctx, n.h, p)
			if res.Error != nil && ctx.Err() == nil {
				n.log.Debug("ping failed", "peer", p, "err", res.Error)
			}
		})
	}
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-sub.Out():
			e := ev.(event.EvtPeerConnectednessChanged)
			if e.Connectedness == network.Connected {
				start(e.Peer)
			}
		case <-t.C:
			for _, p := range n.h.Network().Peers() {
				start(p)
			}
		}
	}
}

// mdnsNotifee connects to peers found on the LAN and remembers them as LAN
// peers. mDNS reports a peer again on every answer it hears, so dials are
// deduplicated, and a peer that could not be reached (for example one on
// another private network, whose handshake stalls until the dial timeout)
// is left alone for a while: mdnsRetryMin after its first failed dial,
// doubling with each further failure up to mdnsRetry. The short first wait
// matters when two nodes start together and the first dial loses a race
// with the other's start (or a busy machine's timeout).
type mdnsNotifee struct {
	n   *Node
	ctx context.Context

	mu     sync.Mutex
	busy   map[peer.ID]bool       // dial in flight
	failed map[peer.ID]mdnsFailed // failed dials since the last success
}

type mdnsFailed struct {
	at time.Time // the last failed dial
	n  int       // failed dials in a row
}

// wait returns how long after the last failure the peer is left alone.
func (f mdnsFailed) wait() time.Duration {
	if f.n == 0 {
		return 0
	}
	d := mdnsRetryMin << min(f.n-1, 16)
	return min(d, mdnsRetry)
}

// mdnsRetryMin and mdnsRetry bound how long an unreachable LAN peer is left
// alone.
var (
	mdnsRetryMin = 5 * time.Second
	mdnsRetry    = time.Minute
)

// HandlePeerFound is called by the mDNS service in a goroutine of its own.
func (m *mdnsNotifee) HandlePeerFound(info peer.AddrInfo) {
	n := m.n
	if info.ID == n.h.ID() {
		return
	}
	n.mu.Lock()
	n.lan[info.ID] = true
	n.mu.Unlock()
	if n.h.Network().Connectedness(info.ID) == network.Connected {
		return
	}
	m.mu.Lock()
	if m.busy == nil {
		m.busy = make(map[peer.ID]bool)
		m.failed = make(map[peer.ID]mdnsFailed)
	}
	if f := m.failed[info.ID]; m.busy[info.ID] || time.Since(f.at) < f.wait() {
		m.mu.Unlock()
		return
	}
	m.busy[info.ID] = true
	m.mu.Unlock()

	started := n.spawn(func() {
		ctx, cancel := context.WithTimeout(m.ctx, dialTimeout)
		defer cancel()
		err := n.connect(ctx, info)
		m.mu.Lock()
		delete(m.busy, info.ID)
		if err != nil {
			m.failed[info.ID] = mdnsFailed{at: time.Now(), n: m.failed[info.ID].n + 1}
		} else {
			delete(m.failed, info.ID)
		}
		m.mu.Unlock()
		switch {
		case err == nil:
			n.log.Info("connected to LAN peer", "peer", info.ID)
		case m.ctx.Err() == nil:
			n.log.Debug("mDNS peer unreachable", "peer", info.ID, "err", err)
		}
	})
	if !started {
		m.mu.Lock()
		delete(m.busy, info.ID)
		m.mu.Unlock()
	}
}

// mdnsStaysLocal reports whether running mDNS suits a node listening on
// addrs. A node that listens only on loopback addresses cannot be reached
// from the LAN, so announcing it there is useless, and mDNS (which uses
// every multicast interface) would send packets off the machine: for such a
// node mDNS runs only if every multicast interface is a loopback one (as in
// a network namespace set up for tests).
func mdnsStaysLocal(addrs []ma.Multiaddr, ifaces []net.Interface) bool {
	if !allLoopback(addrs) {
		return true
	}
	usable := false
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagMulticast == 0 {
			continue
		}
		if ifc.Flags&net.FlagLoopback == 0 {
			return false
		}
		usable = true
	}
	return usable
}

func interfaces() []net.Interface {
	ifaces, _ := net.Interfaces()
	return ifaces
}

// sleep waits for d or until ctx is done; it reports whether ctx is still
// live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
