package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
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
// peers.
//
// Two nodes that start together find each other in the same instant. If
// both dialled then, each from its listen port (go-libp2p's TCP transport
// reuses it), the two SYNs would cross into one TCP connection (a
// simultaneous open) on which both sides act as the TLS client, and the
// handshake fails on both. So only one side dials at first: the one with
// the lower peer ID. The other waits mdnsYield and dials only if no
// connection arrived meanwhile (the lower one may be unable to reach it, or
// run an older version).
//
// A failed dial is retried promptly, mdnsRedialMin later and doubling, up
// to mdnsAttempts dials in all, without waiting for mDNS to report the peer
// again (which it may not do for a minute). A peer that could not be
// reached in those attempts (for example one on another private network,
// whose handshake stalls until the dial timeout) is left alone for a while:
// mdnsRetryMin after its first failed round, doubling with each further one
// up to mdnsRetry. mDNS reports a peer again on every answer it hears, so
// each peer has at most one dial loop, which takes the newest addresses
// reported, and at most mdnsMaxDials loops run at once, however many peers
// a LAN announces.
type mdnsNotifee struct {
	n   *Node
	ctx context.Context

	mu      sync.Mutex
	dialing map[peer.ID]*peer.AddrInfo // dial loop running; newest addresses
	failed  map[peer.ID]mdnsFailed     // failed rounds since the last success
}

type mdnsFailed struct {
	at time.Time // the end of the last failed round
	n  int       // failed rounds in a row
}

// wait returns how long after the last failure the peer is left alone.
func (f mdnsFailed) wait() time.Duration {
	if f.n == 0 {
		return 0
	}
	d := mdnsRetryMin << min(f.n-1, 16)
	return min(d, mdnsRetry)
}

// Timings of LAN dials. Variables so tests can shorten them.
var (
	// mdnsYield is how long the node with the higher peer ID waits for
	// the other to dial before it dials itself.
	mdnsYield = 2 * time.Second
	// mdnsRedialMin is the wait before the first redial of a failed LAN
	// dial; it doubles (with jitter) for each further one.
	mdnsRedialMin = 500 * time.Millisecond
	// mdnsAttempts is how many dials a round makes before it gives up.
	mdnsAttempts = 5
	// mdnsRetryMin and mdnsRetry bound how long an unreachable LAN peer
	// is left alone after a failed round.
	mdnsRetryMin = 5 * time.Second
	mdnsRetry    = time.Minute
)

// mdnsMaxDials bounds the LAN dial loops running at once.
const mdnsMaxDials = 64

// mdnsMaxKnown bounds what a node remembers of the peers mDNS announced
// (which are LAN peers, which failed to dial): anyone on the LAN can
// announce any number of made-up peer IDs.
const mdnsMaxKnown = 1024

// boundedSet sets m[k] = v, first dropping an arbitrary other entry when m
// already holds max entries and k is new.
func boundedSet[V any](m map[peer.ID]V, k peer.ID, v V, max int) {
	if _, ok := m[k]; !ok && len(m) >= max {
		for old := range m {
			delete(m, old)
			break
		}
	}
	m[k] = v
}

// dialsFirst reports whether self dials a LAN peer as soon as it finds it,
// rather than waiting for the peer to dial: the lower peer ID dials first.
func dialsFirst(self, other peer.ID) bool { return self < other }

// HandlePeerFound is called by the mDNS service in a goroutine of its own.
func (m *mdnsNotifee) HandlePeerFound(info peer.AddrInfo) {
	n := m.n
	if info.ID == n.h.ID() {
		return
	}
	n.mu.Lock()
	boundedSet(n.lan, info.ID, true, mdnsMaxKnown)
	n.mu.Unlock()
	if n.h.Network().Connectedness(info.ID) == network.Connected {
		return
	}
	m.mu.Lock()
	if m.dialing == nil {
		m.dialing = make(map[peer.ID]*peer.AddrInfo)
		m.failed = make(map[peer.ID]mdnsFailed)
	}
	if cur := m.dialing[info.ID]; cur != nil {
		*cur = info // the loop dials the newest addresses
		m.mu.Unlock()
		return
	}
	if f := m.failed[info.ID]; time.Since(f.at) < f.wait() || len(m.dialing) >= mdnsMaxDials {
		m.mu.Unlock()
		return
	}
	id, newest := info.ID, info
	m.dialing[id] = &newest
	m.mu.Unlock()

	if !n.spawn(func() { m.dialLoop(id) }) {
		m.mu.Lock()
		delete(m.dialing, id)
		m.mu.Unlock()
	}
}

// dialLoop connects to the LAN peer id (see mdnsNotifee) and records the
// outcome.
func (m *mdnsNotifee) dialLoop(id peer.ID) {
	n := m.n
	connected := func() bool { return n.h.Network().Connectedness(id) == network.Connected }
	first := dialsFirst(n.h.ID(), id)
	backoff := mdnsRedialMin
	var err error
	dialled := false
	for attempt := 1; ; attempt++ {
		if !first && !sleep(m.ctx, mdnsYield) {
			err = m.ctx.Err()
			break
		}
		if connected() {
			err = nil
			break
		}
		m.mu.Lock()
		info := *m.dialing[id]
		m.mu.Unlock()
		ctx, cancel := context.WithTimeout(m.ctx, dialTimeout)
		err = n.connect(ctx, info)
		cancel()
		dialled = true
		if err == nil || m.ctx.Err() != nil || attempt >= mdnsAttempts {
			break
		}
		n.log.Debug("LAN peer dial failed; retrying", "peer", id, "attempt", attempt, "err", err)
		// Jitter keeps two nodes that failed together from retrying in
		// step.
		if !sleep(m.ctx, backoff/2+mrand.N(backoff)) {
			break
		}
		backoff *= 2
	}

	m.mu.Lock()
	delete(m.dialing, id)
	if err != nil {
		boundedSet(m.failed, id, mdnsFailed{at: time.Now(), n: m.failed[id].n + 1}, mdnsMaxKnown)
	} else {
		delete(m.failed, id)
	}
	m.mu.Unlock()
	switch {
	case err == nil && dialled:
		n.log.Info("connected to LAN peer", "peer", id)
	case err == nil:
		n.log.Debug("LAN peer connected to us", "peer", id)
	case m.ctx.Err() == nil:
		n.log.Debug("mDNS peer unreachable", "peer", id, "err", err)
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
